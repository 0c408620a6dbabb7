// Child processes for tests: spawn tracked by PID, kill by PID and wait for exit, run to completion, poll.
import { spawn, ChildProcess, SpawnOptions } from 'child_process';
import * as fs from 'fs';

/** A spawned child whose output is collected and which can be killed and awaited. */
export interface TrackedProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** stdout and stderr interleaved as received, for error messages. */
  output(): string;
  /** Settles when the child has exited (never rejects). */
  readonly exited: Promise<ProcessExit>;
  /** SIGTERM, then SIGKILL after graceMs; resolves once the child has exited. Idempotent. */
  kill(graceMs?: number): Promise<ProcessExit>;
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface CommandResult extends ProcessExit {
  stdout: string;
  stderr: string;
}

// Every process spawned here and still running, so killAllTracked() can sweep up after a test
// that failed before its own cleanup ran.
const live = new Set<TrackedProcess>();

/** Spawns a child (stdin ignored, stdout/stderr piped and collected) and tracks it by PID. */
export function spawnTracked(
  command: string,
  args: readonly string[],
  options: Omit<SpawnOptions, 'stdio'> = {},
): TrackedProcess {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) {
    throw new Error(`spawnTracked: could not start ${command} (not found or not executable?)`);
  }
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (output += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (output += s));
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    // 'error' after a successful spawn (e.g. kill failure) must not become an unhandled event.
    child.on('error', () => undefined);
  });
  const tracked: TrackedProcess = {
    pid: child.pid,
    child,
    output: () => output,
    exited,
    kill: async (graceMs = 3000) => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      return exited;
    },
  };
  live.add(tracked);
  void exited.then(() => live.delete(tracked));
  return tracked;
}

/** Kills every process spawned by spawnTracked that is still running (for afterAll). */
export async function killAllTracked(graceMs = 3000): Promise<void> {
  await Promise.all([...live].map((p) => p.kill(graceMs)));
}

/** Runs a command to completion and collects its output; rejects only on timeout or spawn failure. */
export function runCommand(
  command: string,
  args: readonly string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<CommandResult> {
  const { timeoutMs = 30_000, ...spawnOptions } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...spawnOptions, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish within ${timeoutMs} ms\n${stdout}${stderr}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`could not run ${command}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * True if the PID names a live process. A zombie counts as dead: when an orphan's parent is a
 * container init that does not reap, kill(pid, 0) keeps succeeding on the corpse.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/PID/stat is "pid (comm) S ..."; comm may contain spaces or parentheses, so split at the last ')'.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Sends SIGTERM to a PID (not necessarily our child), waits graceMs, then SIGKILL; resolves once it is gone. */
export async function killPid(pid: number, graceMs = 3000): Promise<void> {
  if (!pidAlive(pid)) return;
  signal(pid, 'SIGTERM');
  try {
    await waitFor(() => !pidAlive(pid), graceMs, `PID ${pid} to exit after SIGTERM`);
  } catch {
    signal(pid, 'SIGKILL');
    await waitFor(() => !pidAlive(pid), 5000, `PID ${pid} to exit after SIGKILL`);
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone between the check and the signal: that is the outcome we wanted.
  }
}

/**
 * Polls predicate every intervalMs until it returns a truthy value, and returns that value.
 * Throws "Timed out after N ms waiting for <what>" so a failing test says what never happened;
 * `what` may be a function, evaluated at the timeout (e.g. to append a log as it is by then).
 * A predicate that throws is treated as "not yet"; its last error is appended to the message.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  timeoutMs: number,
  what: string | (() => string),
  intervalMs = 50,
): Promise<Exclude<T, false | null | undefined | 0 | ''>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as Exclude<T, false | null | undefined | 0 | ''>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      const described = typeof what === 'function' ? what() : what;
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${described}${cause}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
