// Runs the real `floodgate run` command as a child process (the compiled CLI), tracked by PID.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand, spawnTracked, waitFor, type TrackedProcess } from './processes';

export const CLI = join(__dirname, '..', '..', 'dist', 'cli', 'main.js');

export interface FloodgateProcess {
  process: TrackedProcess;
  /** Everything the service logged so far (lines on stderr, JSON unless the configuration says text). */
  log(): string;
  /** Sends SIGTERM and waits for a clean exit; throws if the exit code is not 0. */
  stop(): Promise<void>;
}

/** The "listening" line in the JSON or the text log format. */
const LISTENING = /"message":"listening"|^\S+ info listening /m;

export interface LaunchOptions {
  /** A command that runs node for us, e.g. ['prlimit', '--nofile=256', '--'] (the fault tests). */
  wrapper?: string[];
  /** Extra environment, e.g. LD_PRELOAD for libfaketime. */
  env?: NodeJS.ProcessEnv;
}

/** `cli`: the compiled CLI to run; the default is this checkout's, as seen from test/support (compiled copies pass their own). */
export async function startFloodgateProcess(configFile: string, cli = CLI, launch: LaunchOptions = {}): Promise<FloodgateProcess> {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run "npm run build" first (npm run test:full does)`);
  const argv = [process.execPath, cli, 'run', '--config', configFile];
  const [command, ...args] = [...(launch.wrapper ?? []), ...argv];
  const child = spawnTracked(command!, args, launch.env ? { env: { ...process.env, ...launch.env } } : {});
  await waitFor(() => LISTENING.test(child.output()) || child.child.exitCode !== null, 10_000, () => `floodgate to listen; output:\n${child.output()}`);
  if (child.child.exitCode !== null) throw new Error(`floodgate exited with ${child.child.exitCode}:\n${child.output()}`);
  return {
    process: child,
    log: () => child.output(),
    async stop() {
      const exit = await child.kill(15_000);
      if (exit.code !== 0) throw new Error(`floodgate exited with ${exit.code ?? exit.signal}:\n${child.output()}`);
    },
  };
}

/** Runs a one-shot CLI command (`scores`, `check-rules`...) and returns its output and exit code. */
export function floodgateCli(...args: string[]) {
  return runCommand(process.execPath, [CLI, ...args], { env: { ...process.env, FLOODGATE_CONFIG: '' } });
}
