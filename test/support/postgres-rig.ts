// A private PostgreSQL cluster for tests: initdb in a temp directory, 127.0.0.1 and a port the test picks, stopped by PID.
//
// PostgreSQL refuses to run as root, and CI runs as root: then initdb and postgres run as the
// `postgres` user that Debian's package creates (else `nobody`), switched to with setpriv, which
// execs (unlike runuser or su, which stay as a parent): the PID spawned is the postmaster's own.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports';
import { runCommand, spawnTracked, waitFor, type TrackedProcess } from './processes';

export interface PostgresServer {
  readonly port: number;
  /** postgresql://floodgate@127.0.0.1:port/postgres (trust authentication: the cluster is private). */
  readonly url: string;
  /** The postmaster; replaced by restart(). */
  process: TrackedProcess;
  /** Runs SQL with psql and returns its unaligned, tuples-only output. */
  psql(sql: string): Promise<string>;
  /** Fast shutdown (SIGINT: open connections are cut) and waits for the postmaster to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same data directory and port. */
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  destroy(): Promise<void>;
}

/** The newest installed server's bin directory; throws with the fix when there is none (tests fail, never skip). */
export function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'postgres'))) : [];
  if (versions.length === 0) {
    throw new Error('PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): run scripts/install-test-deps.sh (npm run test:full does)');
  }
  return join(root, versions.sort((a, b) => Number(b) - Number(a))[0], 'bin');
}

/** The user the cluster runs as and the command prefix that becomes it (nothing when not root). */
function runAs(): { uid: number; gid: number; prefix: string[] } {
  const me = userInfo();
  if (me.uid !== 0) return { uid: me.uid, gid: me.gid, prefix: [] };
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
      return { uid, gid, prefix: ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--'] };
    } catch {
      // No such user: try the next.
    }
  }
  throw new Error('running as root and neither the postgres nor the nobody user exists to run PostgreSQL as');
}

/**
 * initdb (trust authentication, superuser `floodgate`, no fsync of the new files) and a postmaster on
 * 127.0.0.1:port with its unix socket in the same private directory. `settings` are extra `-c`
 * parameters; tests pass fsync=off, the bench keeps PostgreSQL's durable defaults.
 */
export async function startPostgres(settings: Record<string, string> = {}): Promise<PostgresServer> {
  const bin = postgresBin();
  const user = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'fg-postgres-'));
  chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  const [command, ...prefixArgs] = [...user.prefix, join(bin, 'initdb')];
  const init = await runCommand(command, [...prefixArgs, '-D', data, '-U', 'floodgate', '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-sync', '--no-instructions'], { timeoutMs: 60_000, cwd: dir });
  if (init.code !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.code}):\n${init.stdout}${init.stderr}`);
  }
  const args = (port: number): string[] => [
    ...user.prefix, join(bin, 'postgres'), '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1',
    ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
  ];
  // freePort can race with another process taking the port: try a few.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      const first = await spawnPostgres(args(port), port);
      return serverHandle(port, dir, bin, first, () => spawnPostgres(args(port), port));
    } catch (error) {
      if (attempt >= 3 || !/could not bind|Address already in use/.test(String(error))) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }
}

async function spawnPostgres(args: string[], port: number): Promise<TrackedProcess> {
  const [command, ...rest] = args;
  const child = spawnTracked(command, rest);
  try {
    await waitFor(
      () => child.output().includes('database system is ready to accept connections') || child.child.exitCode !== null,
      30_000,
      () => `postgres on port ${port}; output:\n${child.output()}`,
      50,
    );
  } catch (error) {
    await stopPostmaster(child);
    throw error;
  }
  if (child.child.exitCode !== null) throw new Error(`postgres on port ${port} exited with ${child.child.exitCode}:\n${child.output()}`);
  return child;
}

/** SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for every client to leave); SIGQUIT if that hangs. */
async function stopPostmaster(child: TrackedProcess): Promise<void> {
  if (child.child.exitCode !== null || child.child.signalCode !== null) return;
  child.child.kill('SIGINT');
  const timer = setTimeout(() => child.child.kill('SIGQUIT'), 10_000);
  await child.exited;
  clearTimeout(timer);
}

function serverHandle(port: number, dir: string, bin: string, first: TrackedProcess, spawn: () => Promise<TrackedProcess>): PostgresServer {
  const server: PostgresServer = {
    port,
    url: `postgresql://floodgate@127.0.0.1:${port}/postgres`,
    process: first,
    async psql(sql) {
      const result = await runCommand(join(bin, 'psql'), ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', 'floodgate', '-d', 'postgres', '-c', sql], { timeoutMs: 30_000 });
      if (result.code !== 0) throw new Error(`psql ${sql}: exit ${result.code}\n${result.stdout}${result.stderr}`);
      return result.stdout;
    },
    stop: () => stopPostmaster(server.process),
    async start() {
      server.process = await spawn();
    },
    async destroy() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}
