// Private redis-server instances and a 3-primary Redis Cluster on loopback ports the test picks, tracked by PID.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports';
import { runCommand, spawnTracked, waitFor, type TrackedProcess } from './processes';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** The running process; replaced by restart(). */
  process: TrackedProcess;
  /** Runs redis-cli against this server and returns its stdout (rejects on a non-zero exit). */
  cli(...args: string[]): Promise<string>;
  /** Stops the server (SIGTERM; nothing is saved) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty (no persistence): as after a crash or a failover. */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: a server that hangs with its connections open. */
  pause(): void;
  resume(): void;
  /** Stops it and removes its directory. */
  destroy(): Promise<void>;
}

export interface RedisClusterRig {
  readonly nodes: RedisServer[];
  readonly urls: string[];
  destroy(): Promise<void>;
}

/** Throws with the fix when redis-server is missing, instead of failing later in a confusing way. */
export function requireRedisServer(): void {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('redis-server is not installed: run scripts/install-test-deps.sh (npm run test:full does)');
  }
}

/** PEM files for a TLS server (see tlsFiles). */
export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/**
 * Starts redis-server on a free loopback port with persistence off; extra arguments are redis.conf
 * directives. With `tls`, the port speaks only TLS (rediss://) with that certificate.
 */
export async function startRedis(extraArgs: string[] = [], tls?: TlsFiles): Promise<RedisServer> {
  requireRedisServer();
  const dir = mkdtempSync(join(tmpdir(), 'fg-redis-'));
  // freePort can race with another process taking the port: try a few.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const args = tls
      ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.cert, '--tls-key-file', tls.key, '--tls-ca-cert-file', tls.ca, '--tls-auth-clients', 'no', ...extraArgs]
      : extraArgs;
    try {
      const process = await spawnRedis(port, dir, args);
      return serverHandle(port, dir, process, args, tls !== undefined);
    } catch (error) {
      if (attempt >= 3 || !/Address already in use/.test(String(error))) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }
}

/** Log level notice: "Ready to accept connections", which the start waits for, is a notice. */
async function spawnRedis(port: number, dir: string, extraArgs: string[]): Promise<TrackedProcess> {
  // Later arguments win: a TLS server's extra arguments move the plain port to 0.
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'notice',
    ...extraArgs,
  ];
  const child = spawnTracked('redis-server', args);
  try {
    await waitFor(
      () => child.output().includes('Ready to accept connections') || child.child.exitCode !== null,
      10_000,
      () => `redis-server on port ${port}; output:\n${child.output()}`,
      20,
    );
  } catch (error) {
    await child.kill();
    throw error;
  }
  if (child.child.exitCode !== null) throw new Error(`redis-server on port ${port} exited with ${child.child.exitCode}:\n${child.output()}`);
  return child;
}

function serverHandle(port: number, dir: string, first: TrackedProcess, extraArgs: string[], tls: boolean): RedisServer {
  const server: RedisServer = {
    port,
    url: `${tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    process: first,
    async cli(...args) {
      const result = await runCommand('redis-cli', ['-p', String(port), ...args], { timeoutMs: 10_000 });
      if (result.code !== 0) throw new Error(`redis-cli ${args.join(' ')}: exit ${result.code}\n${result.stdout}${result.stderr}`);
      return result.stdout;
    },
    async stop() {
      server.resume();
      await server.process.kill(5000);
    },
    async restart() {
      await server.stop();
      server.process = await spawnRedis(port, dir, extraArgs);
    },
    pause() {
      if (server.process.child.exitCode === null) server.process.child.kill('SIGSTOP');
    },
    resume() {
      if (server.process.child.exitCode === null) server.process.child.kill('SIGCONT');
    },
    async destroy() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** Three cluster-enabled servers (bus ports picked too, not port+10000) joined by `redis-cli --cluster create`. */
export async function startRedisCluster(primaries = 3): Promise<RedisClusterRig> {
  const nodes: RedisServer[] = [];
  try {
    for (let i = 0; i < primaries; i++) {
      const busPort = await freePort();
      nodes.push(await startRedis([
        '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${i}.conf`, '--cluster-port', String(busPort),
        '--cluster-node-timeout', '2000',
      ]));
    }
    const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
    const created = await runCommand('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], { timeoutMs: 30_000 });
    if (created.code !== 0 || !created.stdout.includes('[OK] All 16384 slots covered')) {
      throw new Error(`redis-cli --cluster create failed (${created.code}):\n${created.stdout}${created.stderr}`);
    }
    for (const node of nodes) {
      await waitFor(async () => (await node.cli('cluster', 'info')).includes('cluster_state:ok'), 10_000, `cluster_state:ok on port ${node.port}`);
    }
  } catch (error) {
    await Promise.all(nodes.map((n) => n.destroy()));
    throw error;
  }
  return {
    nodes,
    urls: nodes.map((n) => n.url),
    destroy: async () => {
      await Promise.all(nodes.map((n) => n.destroy()));
    },
  };
}

/** A Redis Sentinel (redis-server --sentinel) watching `primary` as `name`; its config file must be writable. */
export async function startSentinel(primary: RedisServer, name = 'mymaster'): Promise<{ url: string; destroy(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'fg-sentinel-'));
  const port = await freePort();
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, [
    `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`,
    `sentinel monitor ${name} 127.0.0.1 ${primary.port} 1`, `sentinel down-after-milliseconds ${name} 1000`, '',
  ].join('\n'));
  const child = spawnTracked('redis-server', [conf, '--sentinel']);
  const destroy = async (): Promise<void> => {
    await child.kill(5000);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(() => child.output().includes(`+monitor master ${name}`) || child.child.exitCode !== null, 10_000, () => `sentinel on port ${port}; output:\n${child.output()}`, 20);
    if (child.child.exitCode !== null) throw new Error(`sentinel exited with ${child.child.exitCode}:\n${child.output()}`);
  } catch (error) {
    await destroy();
    throw error;
  }
  return { url: `redis://127.0.0.1:${port}`, destroy };
}

export interface SentinelGroup {
  readonly urls: string[];
  /** The primary's port as the sentinels report it now (SENTINEL get-master-addr-by-name). */
  primaryPort(): Promise<number>;
  destroy(): Promise<void>;
}

/**
 * `count` sentinels (Debian's redis-sentinel command) watching `primary` as `name` with quorum
 * `quorum`: a primary silent for `downAfterMs` is failed over to a replica. Each sentinel gets its
 * own writable directory and config file (sentinels rewrite it with what they learn).
 */
export async function startSentinels(primary: RedisServer, opts: { count?: number; quorum?: number; name?: string; downAfterMs?: number } = {}): Promise<SentinelGroup> {
  const { count = 3, quorum = 2, name = 'mymaster', downAfterMs = 1000 } = opts;
  const started: Array<{ port: number; child: TrackedProcess; dir: string }> = [];
  const destroy = async (): Promise<void> => {
    await Promise.all(started.map((s) => s.child.kill(5000)));
    for (const s of started) rmSync(s.dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < count; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'fg-sentinel-'));
      const port = await freePort();
      const conf = join(dir, 'sentinel.conf');
      writeFileSync(conf, [
        `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, 'daemonize no',
        `sentinel monitor ${name} 127.0.0.1 ${primary.port} ${quorum}`,
        `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
        `sentinel failover-timeout ${name} 10000`, `sentinel parallel-syncs ${name} 1`, '',
      ].join('\n'));
      const child = spawnTracked('redis-sentinel', [conf]);
      started.push({ port, child, dir });
      await waitFor(() => child.output().includes(`+monitor master ${name}`) || child.child.exitCode !== null, 10_000, () => `sentinel on port ${port}; output:\n${child.output()}`, 20);
      if (child.child.exitCode !== null) throw new Error(`redis-sentinel exited with ${child.child.exitCode}:\n${child.output()}`);
    }
  } catch (error) {
    await destroy();
    throw error;
  }
  return {
    urls: started.map((s) => `redis://127.0.0.1:${s.port}`),
    async primaryPort() {
      const answer = await runCommand('redis-cli', ['-p', String(started[0]!.port), 'SENTINEL', 'get-master-addr-by-name', name], { timeoutMs: 5000 });
      return Number(answer.stdout.trim().split('\n')[1]);
    },
    destroy,
  };
}

/** A throw-away CA and a server certificate for 127.0.0.1 (EC keys: quick to make), in `dir`. */
export function tlsFiles(dir: string): TlsFiles {
  const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key') };
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', files.ca, '-days', '1', '-subj', '/CN=floodgate test CA');
  openssl('req', ...ec, '-keyout', files.key, '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', files.ca, '-CAkey', 'ca.key', '-CAcreateserial', '-out', files.cert, '-days', '1', '-extfile', 'san.ext');
  return files;
}
