// Shared by the benchmarks: where things are, starting and stopping the milters under test, CPU sampling.
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { freePort, isListening } from '../../test/support/ports';
import { spawnTracked, waitFor, type TrackedProcess } from '../../test/support/processes';
import { startDnsServer } from '../../test/support/dns-server';

/** The repository root, from the compiled file (bench/results/tmp/js/bench/milter-load) or the source. */
export const REPO = findRepo(__dirname);
export const RESULTS = join(REPO, 'bench', 'results');
export const TMP = join(RESULTS, 'tmp');
export const BIN = join(TMP, 'bin');
/** The compiled `floodgate` CLI under test (run-all.sh builds it; FLOODGATE_CLI overrides). */
export const FLOODGATE_CLI = process.env.FLOODGATE_CLI ?? join(TMP, 'floodgate', 'cli', 'main.js');
/** Where the shipped config/ and rules/ of the build under test are: the git ref's export, or the work tree. */
const FLOODGATE_ROOT = process.env.FLOODGATE_ROOT ?? REPO;
export const SHIPPED_RULES = join(FLOODGATE_ROOT, 'rules', 'default.yml');
export const SHIPPED_CONFIG = join(FLOODGATE_ROOT, 'config', 'floodgate.yml');

function findRepo(from: string): string {
  for (let dir = resolve(from); dir !== '/'; dir = resolve(dir, '..')) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'rules', 'default.yml'))) return dir;
  }
  throw new Error(`no repository above ${from}`);
}

/**
 * `floodgate-memory`: Floodgate with `store.backend: memory`, a diagnostic showing what the LevelDB round trips cost.
 * `ref-body`: libmilter, continue everywhere, header and body callbacks registered (bench/ref-milter/ref-body.c).
 * `rspamd`: only its ratelimit module (bench/rspamd/rspamd.conf); `rspamd-default`: Debian's default modules
 * (bench/rspamd/rspamd-default.conf). `node-floor`: bench/ref-milter/node-floor.js.
 */
export type MilterKind = 'ref-accept' | 'ref-count' | 'ref-body' | 'floodgate' | 'floodgate-memory' | 'rspamd' | 'rspamd-default' | 'node-floor';
export type Transport = 'tcp' | 'unix';

export interface RunningMilter {
  kind: MilterKind;
  transport: Transport;
  /** For milter-load: inet:127.0.0.1:PORT or unix:/path. */
  target: string;
  /** For Postfix's smtpd_milters: inet:127.0.0.1:PORT or unix:/path. */
  postfixSpec: string;
  /** Every process whose CPU counts as the milter's (rspamd: its workers and Redis too). */
  pids(): number[];
  /** The process whose memory is the milter's (Floodgate: the Node process). */
  mainPid: number;
  /** Floodgate: its configuration file (for `floodgate scores --config`). */
  configFile?: string;
  log(): string;
  stop(): Promise<void>;
}

export interface MilterOptions {
  transport?: Transport;
  /** Floodgate: rules file (default: the shipped one). */
  rules?: string;
  /** Floodgate: existing state directory to use (default: a fresh one, removed at stop). */
  stateDir?: string;
  /** Floodgate: extra configuration lines appended to the shipped configuration. */
  extraConfig?: string;
  /** Floodgate: node options such as --cpu-prof. */
  nodeArgs?: string[];
  /** Floodgate: environment variables added to this process's own. */
  env?: Record<string, string>;
  /** Floodgate: keep scores in memory instead of LevelDB. */
  memoryStore?: boolean;
  /** Floodgate: store.sweep_interval instead of the shipped one (e.g. "10s"). */
  sweepInterval?: string;
  /** Floodgate: the compiled CLI to run (default FLOODGATE_CLI); ab-bench.ts runs two builds side by side. */
  cli?: string;
  /** Floodgate: http.listen (default off), e.g. "127.0.0.1:<port>" for the status page's benchmark. */
  httpListen?: string;
  /**
   * Floodgate: tracking.backend (default off: the other benchmarks measure the milter path and the
   * score store, as before tracking existed); "sqlite", or a postgresql:// URL.
   */
  tracking?: string;
}

/**
 * The load generator, compiled from bench/milter-load/*.c into BIN when missing (run-all.sh builds it
 * first; the soak test of the suite relies on this). Needs gcc and libc6-dev.
 */
export function ensureGenerator(): string {
  const binary = join(BIN, 'milter-load');
  if (existsSync(binary)) return binary;
  mkdirSync(BIN, { recursive: true });
  const dir = join(REPO, 'bench', 'milter-load');
  const sources = readdirSync(dir).filter((name) => name.endsWith('.c')).map((name) => join(dir, name));
  execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-o', `${binary}.partial`, ...sources], { stdio: 'inherit' });
  renameSync(`${binary}.partial`, binary);
  return binary;
}

/** A private directory on tmpfs for sockets and throw-away state, reachable by Postfix's smtpd. */
export function shmDir(prefix: string): string {
  const dir = mkdtempSync(join('/dev/shm', prefix));
  chmodSync(dir, 0o755);
  return dir;
}

/** Where Floodgate's LevelDB lives: the ordinary disk, as in production (FLOODGATE_STATE_ON=tmpfs moves it). */
function stateParent(): string {
  if (process.env.FLOODGATE_STATE_ON === 'tmpfs') return '/dev/shm';
  mkdirSync(join(TMP, 'state'), { recursive: true });
  return join(TMP, 'state');
}

export async function startMilter(kind: MilterKind, options: MilterOptions = {}): Promise<RunningMilter> {
  switch (kind) {
    case 'ref-accept':
    case 'ref-count':
    case 'ref-body':
      return startReference(kind, options.transport ?? 'tcp');
    case 'node-floor':
      return startNodeFloor(options.transport ?? 'tcp');
    case 'floodgate':
      return startFloodgate(options);
    case 'floodgate-memory':
      return startFloodgate({ ...options, memoryStore: true });
    case 'rspamd':
    case 'rspamd-default':
      return startRspamd(options.transport ?? 'tcp', kind);
  }
}

/** Where a milter listens: as milter-load and Postfix name it, as libmilter does, and bare (the socket's path, or the port on 127.0.0.1). */
async function endpoint(transport: Transport, dir: string, name: string): Promise<{ target: string; libmilter: string; bare: string; ready: () => boolean }> {
  if (transport === 'unix') {
    const path = join(dir, `${name}.sock`);
    return { target: `unix:${path}`, libmilter: `unix:${path}`, bare: path, ready: () => existsSync(path) };
  }
  const port = await freePort();
  return { target: `inet:127.0.0.1:${port}`, libmilter: `inet:${port}@127.0.0.1`, bare: String(port), ready: () => isListening(port) };
}

async function startReference(kind: 'ref-accept' | 'ref-count' | 'ref-body', transport: Transport): Promise<RunningMilter> {
  const dir = shmDir(`fg-bench-${kind}-`);
  const where = await endpoint(transport, dir, kind);
  const child = spawnTracked(join(BIN, kind), [where.libmilter]);
  await waitFor(() => where.ready() || child.child.exitCode !== null, 10_000, `${kind} to listen`);
  if (child.child.exitCode !== null) throw new Error(`${kind} exited: ${child.output()}`);
  return {
    kind,
    transport,
    target: where.target,
    postfixSpec: where.target,
    pids: () => [child.pid],
    mainPid: child.pid,
    log: () => child.output(),
    // libmilter takes seconds to exit after SIGTERM and keeps its port meanwhile; it holds no state worth saving.
    stop: async () => {
      await child.kill(0);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** node-floor.js: "continue" to everything, no state; what Node's socket layer alone costs, over TCP or a unix socket. */
async function startNodeFloor(transport: Transport): Promise<RunningMilter> {
  const dir = shmDir('fg-bench-node-floor-');
  const where = await endpoint(transport, dir, 'node-floor');
  const child = spawnTracked(process.execPath, [join(REPO, 'bench', 'ref-milter', 'node-floor.js'), where.bare]);
  await waitFor(() => where.ready() || child.child.exitCode !== null, 10_000, 'node-floor to listen');
  if (child.child.exitCode !== null) throw new Error(`node-floor exited: ${child.output()}`);
  return { kind: 'node-floor', transport, target: where.target, postfixSpec: where.target, pids: () => [child.pid], mainPid: child.pid, log: () => child.output(), stop: async () => {
    await child.kill(5_000);
    rmSync(dir, { recursive: true, force: true });
  } };
}

/** The shipped configuration with the listen address, state directory and rules of this run. */
function floodgateConfig(listen: string, stateDir: string, rules: string, extra: string, memoryStore: boolean, sweepInterval?: string, httpListen?: string, tracking = 'off'): string {
  const shipped = readFileSync(SHIPPED_CONFIG, 'utf8');
  let replaced = shipped
    .replace(/^listen: .*$/m, `listen: ${listen}`)
    .replace(/^state_dir: .*$/m, `state_dir: ${stateDir}`)
    // Postfix's smtpd runs as user postfix; the bench does not chown the socket, so it opens it to all.
    .replace(/^(\s+mode: )"0660"/m, '$1"0666"')
    // Several instances run side by side: no status page unless a run asks for one (extra).
    .replace(/^(\s+listen: )127\.0\.0\.1:8899\b/m, '$1"off"')
    .replace(/^(\s+backend: )sqlite\b/m, tracking.startsWith('postgres') ? `$1postgres\n  url: "${tracking}"` : `$1${tracking}`);
  if (memoryStore) replaced = replaced.replace(/^(\s+backend: )level\b/m, '$1memory');
  if (sweepInterval !== undefined) {
    if (!/^\s+sweep_interval: /m.test(replaced)) throw new Error(`${SHIPPED_CONFIG} no longer has the sweep_interval line the bench replaces`);
    replaced = replaced.replace(/^(\s+sweep_interval: )\S+/m, `$1${sweepInterval}`);
  }
  if (memoryStore && !/^\s+backend: memory/m.test(replaced)) throw new Error(`${SHIPPED_CONFIG} no longer has the store backend line the bench replaces`);
  if (!replaced.includes(`listen: ${listen}`) || !replaced.includes(`state_dir: ${stateDir}`) || !replaced.includes('listen: "off"') || !/^tracking:\n\s+backend: (off|sqlite|postgres)/m.test(replaced)) {
    throw new Error(`${SHIPPED_CONFIG} no longer has the listen, http.listen, tracking.backend and state_dir lines the bench replaces`);
  }
  if (httpListen !== undefined) replaced = replaced.replace('listen: "off"', `listen: "${httpListen}"`);
  return `${replaced}\nrules: ${rules}\n${extra}\n`;
}

/** The node flags of the build's #! line (none in older builds): Floodgate runs as its launchers run it. */
function shippedNodeFlags(cli: string): string[] {
  const first = readFileSync(cli, 'utf8').split('\n', 1)[0] ?? '';
  const flags = /^#!\/usr\/bin\/env\s+(?:-S\s+)?node\b(.*)$/.exec(first)?.[1] ?? '';
  return flags.split(/\s+/).filter((flag) => flag !== '');
}

async function startFloodgate(options: MilterOptions): Promise<RunningMilter> {
  const cli = options.cli ?? FLOODGATE_CLI;
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run bench/run-all.sh, or build with tsc --outDir`);
  const transport = options.transport ?? 'tcp';
  const dir = shmDir('fg-bench-floodgate-');
  const where = await endpoint(transport, dir, 'floodgate');
  const ownState = options.stateDir === undefined;
  const stateDir = options.stateDir ?? mkdtempSync(join(stateParent(), 'floodgate-'));
  const configFile = join(dir, 'floodgate.yml');
  writeFileSync(configFile, floodgateConfig(where.target, stateDir, options.rules ?? SHIPPED_RULES, options.extraConfig ?? '', options.memoryStore ?? false, options.sweepInterval, options.httpListen, options.tracking));
  const child = spawnTracked(process.execPath, [...shippedNodeFlags(cli), ...(options.nodeArgs ?? []), cli, 'run', '--config', configFile], { cwd: dir, env: { ...process.env, ...options.env } });
  const cleanUp = (): void => {
    if (ownState) rmSync(stateDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(() => child.output().includes('"listening"') || child.child.exitCode !== null, 60_000, () => `floodgate to listen:\n${child.output()}`);
    if (child.child.exitCode !== null) throw new Error(`floodgate exited with ${child.child.exitCode}:\n${child.output()}`);
  } catch (error) {
    await child.kill(5_000);
    cleanUp();
    throw error;
  }
  return {
    kind: options.memoryStore ? 'floodgate-memory' : 'floodgate',
    transport,
    target: where.target,
    postfixSpec: where.target,
    pids: () => [child.pid],
    mainPid: child.pid,
    configFile,
    log: () => child.output(),
    stop: async () => {
      await child.kill(20_000);
      cleanUp();
    },
  };
}

/**
 * rspamd's proxy worker in milter mode on a private Redis: `rspamd` with only the ratelimit module
 * (bench/rspamd/rspamd.conf); `rspamd-default` with Debian's default modules
 * (bench/rspamd/rspamd-default.conf) and a DNS server in this process that answers NXDOMAIN at once.
 */
async function startRspamd(transport: Transport, kind: 'rspamd' | 'rspamd-default' = 'rspamd'): Promise<RunningMilter> {
  const dir = shmDir('fg-bench-rspamd-');
  const uid = Number(execFileSync('id', ['-u', '_rspamd']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', '_rspamd']).toString().trim());
  chownSync(dir, uid, gid);
  const redisPort = await freePort();
  const redis = spawnTracked('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]);
  await waitFor(() => isListening(redisPort), 10_000, () => `redis-server to listen:\n${redis.output()}`);
  let bind: string;
  let target: string;
  let ready: () => boolean;
  if (transport === 'unix') {
    const path = join(dir, 'rspamd.sock');
    bind = `${path} mode=0666`;
    target = `unix:${path}`;
    ready = () => existsSync(path);
  } else {
    const port = await freePort();
    bind = `127.0.0.1:${port}`;
    target = `inet:127.0.0.1:${port}`;
    ready = () => isListening(port);
  }
  const dns = kind === 'rspamd-default' ? await startDnsServer() : undefined;
  const vars = kind === 'rspamd-default'
    ? [`--var=DBDIR=${dir}`, `--var=LOCAL_CONFDIR=${join(REPO, 'bench', 'rspamd', 'default')}`, `--var=DNS=${dns!.server}`, `--var=HSCACHE=${hyperscanCache(uid, gid)}`]
    : [`--var=DIR=${dir}`];
  const conf = join(REPO, 'bench', 'rspamd', kind === 'rspamd-default' ? 'rspamd-default.conf' : 'rspamd.conf');
  const rspamd = spawnTracked('rspamd', ['-u', '_rspamd', '-g', '_rspamd', '-f', '-c', conf, ...vars, `--var=REDIS=127.0.0.1:${redisPort}`, `--var=BIND=${bind}`]);
  // rspamd loads its TLD list and language models first: ~10 s here; with the default modules it
  // also compiles its regular expressions for hyperscan (kept for the next start: hyperscanCache).
  await waitFor(() => ready() || rspamd.child.exitCode !== null, 300_000, () => `rspamd to listen:\n${rspamd.output()}`);
  if (rspamd.child.exitCode !== null) {
    await dns?.close();
    throw new Error(`rspamd exited: ${rspamd.output()}\n${readLog(join(dir, 'rspamd.log'))}`);
  }
  return {
    kind,
    transport,
    target,
    postfixSpec: target,
    pids: () => [rspamd.pid, ...childrenOf(rspamd.pid), redis.pid],
    mainPid: rspamd.pid,
    log: () => `${rspamd.output()}\n${readLog(join(dir, 'rspamd.log'))}`,
    stop: async () => {
      await rspamd.kill(15_000);
      await redis.kill(5_000);
      await dns?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** rspamd's compiled hyperscan databases, kept between runs (a start without them compiles them first). */
function hyperscanCache(uid: number, gid: number): string {
  const dir = join(TMP, 'rspamd-hyperscan');
  mkdirSync(dir, { recursive: true });
  chownSync(dir, uid, gid);
  return dir;
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Direct children of a process, from /proc. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}

const TICKS_PER_SECOND = 100;

/**
 * CPU seconds used so far by a process (all its threads), 0 once it is gone; with `reapedChildren`
 * also the CPU of the children it has waited for (Postfix's master: the daemons that already exited).
 */
export function processCpu(pid: number, reapedChildren = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const own = Number(fields[11]) + Number(fields[12]);
    return (reapedChildren ? own + Number(fields[13]) + Number(fields[14]) : own) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Busy CPU seconds of the whole machine so far (all cores). */
export function machineBusy(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line;
  return (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND;
}

/** Resident and peak resident memory of a process, in MiB. */
/** RSS and its peak; `anonMiB`: the anonymous part (heaps), `fileMiB`: mapped files (the node binary, LevelDB's tables). */
export function processMemory(pid: number): { rssMiB: number; peakMiB: number; anonMiB: number; fileMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMiB: kb('VmRSS') / 1024, peakMiB: kb('VmHWM') / 1024, anonMiB: kb('RssAnon') / 1024, fileMiB: kb('RssFile') / 1024 };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The commit measured, and whether the work tree differed from it. */
export function sourceInfo(): { commit: string; dirty: boolean; floodgateCli: string } {
  const git = (...args: string[]): string => {
    try {
      return execFileSync('git', ['-C', REPO, ...args], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    } catch {
      return '';
    }
  };
  return { commit: process.env.FLOODGATE_REF_COMMIT ?? git('rev-parse', 'HEAD'), dirty: process.env.FLOODGATE_REF_COMMIT ? false : git('status', '--porcelain', 'src').length > 0, floodgateCli: FLOODGATE_CLI };
}

export function machineInfo(): { cores: number; cpu: string; kernel: string; node: string } {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  return {
    cores: (cpuinfo.match(/^processor\s*:/gm) ?? []).length,
    cpu: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? 'unknown',
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    node: process.version,
  };
}

/** Writes bench/results/<name>, or under $BENCH_RESULTS (a trial run that must not replace the committed figures). */
export function writeResult(name: string, data: unknown): string {
  const dir = process.env.BENCH_RESULTS ?? RESULTS;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

export type { TrackedProcess };
