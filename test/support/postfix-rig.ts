// Private, throw-away Postfix instances on loopback that relay to a test SMTP sink through an optional milter.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { freePort, isListening } from './ports';
import { CommandResult, killPid, pidAlive, runCommand, waitFor } from './processes';

export interface PostfixRigOptions {
  /** Value for smtpd_milters, e.g. 'inet:127.0.0.1:8895' or 'unix:/path/x.sock'; none by default. */
  milter?: string;
  /** Port of the SMTP sink on 127.0.0.1 that receives everything Postfix relays. */
  relayPort: number;
  /** Extra main.cf settings; they override the rig's own. */
  mainCf?: Record<string, string>;
  /** milter_default_action: what Postfix does when the milter is unreachable or fails (default 'tempfail'). */
  milterDefaultAction?: string;
}

export interface PostfixRig {
  /** The smtpd port on 127.0.0.1. */
  smtpPort: number;
  /** Root of the instance: etc/ (config), queue/, data/, postfix.log. Removed by stop(). */
  dir: string;
  configDir: string;
  logFile: string;
  /** The instance's log so far ('' before anything was written). */
  log(): string;
  /** Resolves with the first log line matching pattern; the timeout error shows the log. */
  waitForLog(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
  /** Changes main.cf with `postconf -e`; call reload() for running daemons to see it. */
  setMainCf(settings: Record<string, string>): Promise<void>;
  /** `postfix reload`, resolved once the master has logged the reload. */
  reload(): Promise<void>;
  /** Stops the master, kills leftovers of this instance by PID, removes dir (kept if FLOODGATE_KEEP_RIG=1). Idempotent. */
  stop(): Promise<void>;
}

/** Recipient domains the rig relays to the sink (XCLIENT clients are not in mynetworks, so they need this). */
export const RIG_RELAY_DOMAINS = ['example.com', 'example.net', 'example.org', 'floodgate.test'];

const SEARCH_PATH = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin', '/usr/bin'];

function findExecutable(name: string): string | undefined {
  for (const dir of SEARCH_PATH) {
    const candidate = path.join(dir || '.', name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** Paths of the postfix and postconf commands; throws a message that says how to install them. */
export function findPostfix(): { postfix: string; postconf: string } {
  const postfix = findExecutable('postfix');
  const postconf = findExecutable('postconf');
  if (!postfix || !postconf) {
    throw new Error(
      'Postfix is not installed (no postfix/postconf in PATH or /usr/sbin): the e2e tests need it. ' +
        'Run scripts/install-test-deps.sh (as root) to install it from Debian.',
    );
  }
  return { postfix, postconf };
}

// Postfix commands exit 1 without saying why when stderr is not a terminal and there is no
// /dev/log; under `script` they get a pty and print their fatal errors.
async function runUnderPty(argv: string[], timeoutMs = 60_000): Promise<CommandResult> {
  const script = findExecutable('script');
  const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const result = script
    ? await runCommand(script, ['-qec', quoted, '/dev/null'], { timeoutMs })
    : await runCommand(argv[0], argv.slice(1), { timeoutMs });
  return { ...result, stdout: result.stdout.replace(/\r/g, ''), stderr: result.stderr.replace(/\r/g, '') };
}

/** PIDs of processes belonging to the instance: Postfix daemons chdir to their queue_directory. */
function instancePids(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cwd = fs.readlinkSync(`/proc/${entry}/cwd`);
      if ((cwd === dir || cwd.startsWith(dir + '/')) && pidAlive(Number(entry))) pids.push(Number(entry));
    } catch {
      // exited while we looked, or not ours to read
    }
  }
  return pids;
}

// /dev/shm is tmpfs: REAL-MTAS.md measured a disk queue slowing down run after run.
function baseDir(): string {
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    return '/dev/shm';
  } catch {
    return os.tmpdir();
  }
}

function mainCf(dir: string, opts: PostfixRigOptions): string {
  const settings: Record<string, string> = {
    compatibility_level: '3.6', // silences "using backwards-compatible default setting" warnings
    config_directory: path.join(dir, 'etc'),
    queue_directory: path.join(dir, 'queue'),
    data_directory: path.join(dir, 'data'),
    // The machine's host name may be unqualified; Postfix and milters then see odd names.
    myhostname: 'rig.floodgate.test',
    mydomain: 'floodgate.test',
    myorigin: '$myhostname',
    inet_interfaces: '127.0.0.1',
    inet_protocols: 'ipv4',
    mydestination: '',
    local_recipient_maps: '',
    local_transport: 'error:5.1.1 local delivery is disabled in the test rig',
    alias_maps: '',
    alias_database: '',
    mynetworks: '127.0.0.0/8',
    relay_domains: RIG_RELAY_DOMAINS.join(', '),
    relayhost: `[127.0.0.1]:${opts.relayPort}`,
    smtp_host_lookup: 'native', // no DNS here; the bracketed numeric relayhost needs none anyway
    smtpd_authorized_xclient_hosts: '127.0.0.0/8',
    smtpd_milters: opts.milter ?? '',
    non_smtpd_milters: '',
    milter_default_action: opts.milterDefaultAction ?? 'tempfail',
    // No syslog socket here: log to a file through the postlog service, allowed by the prefix list.
    maillog_file: path.join(dir, 'postfix.log'),
    maillog_file_prefixes: dir,
    smtpd_banner: '$myhostname ESMTP floodgate test rig',
    // Deliver and retry quickly; never make a client wait on Postfix's own throttles.
    queue_run_delay: '1s',
    minimal_backoff_time: '1s',
    maximal_backoff_time: '2s',
    smtp_connect_timeout: '5s',
    in_flow_delay: '0s',
    smtpd_error_sleep_time: '0s',
    biff: 'no',
    append_dot_mydomain: 'no',
    ...opts.mainCf,
  };
  return Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n';
}

// chroot "n" everywhere: the chroot would need copies of /etc files. Services as in Debian's master.cf.
function masterCf(smtpPort: number): string {
  const rows = [
    `127.0.0.1:${smtpPort} inet n - n - - smtpd`,
    'pickup unix n - n 60 1 pickup',
    'cleanup unix n - n - 0 cleanup',
    'qmgr unix n - n 300 1 qmgr',
    'rewrite unix - - n - - trivial-rewrite',
    'bounce unix - - n - 0 bounce',
    'defer unix - - n - 0 bounce',
    'trace unix - - n - 0 bounce',
    'verify unix - - n - 1 verify',
    'flush unix n - n 1000? 0 flush',
    'proxymap unix - - n - - proxymap',
    'proxywrite unix - - n - 1 proxymap',
    'smtp unix - - n - - smtp',
    'relay unix - - n - - smtp',
    'showq unix n - n - - showq',
    'error unix - - n - - error',
    'retry unix - - n - - error',
    'discard unix - - n - - discard',
    'local unix - n n - - local',
    'virtual unix - n n - - virtual',
    'lmtp unix - - n - - lmtp',
    'anvil unix - - n - 1 anvil',
    'scache unix - - n - 1 scache',
    'postlog unix-dgram n - n - 1 postlogd',
  ];
  return rows.join('\n') + '\n';
}

// Postfix re-reads a config file that was modified in the last couple of seconds, sleeping 300 ms
// between tries, in case an editor is still writing it: a fresh main.cf costs ~1.8 s per command.
// Ours are complete when written, so backdate them.
function backdate(...files: string[]): void {
  const past = Date.now() / 1000 - 60;
  for (const file of files) fs.utimesSync(file, past, past);
}

function readLog(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

// Safety net for a test that dies before stop(): kill the instances' processes and remove their dirs.
const liveDirs = new Set<string>();
process.once('exit', () => {
  for (const dir of liveDirs) {
    for (const pid of instancePids(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

async function removeInstance(dir: string, postfix: string): Promise<void> {
  const configDir = path.join(dir, 'etc');
  if (fs.existsSync(path.join(dir, 'queue', 'pid', 'master.pid'))) {
    await runUnderPty([postfix, '-c', configDir, 'stop'], 20_000).catch(() => undefined);
  }
  // The master takes its children down with it; give it a moment, then kill what is left, by PID.
  try {
    await waitFor(() => instancePids(dir).length === 0, 5000, `Postfix in ${dir} to exit`);
  } catch {
    await Promise.all(instancePids(dir).map((pid) => killPid(pid, 0)));
  }
  liveDirs.delete(dir);
  if (process.env.FLOODGATE_KEEP_RIG !== '1') fs.rmSync(dir, { recursive: true, force: true });
}

async function startInstance(dir: string, smtpPort: number, opts: PostfixRigOptions): Promise<PostfixRig> {
  const { postfix, postconf } = findPostfix();
  const configDir = path.join(dir, 'etc');
  const logFile = path.join(dir, 'postfix.log');
  // mkdtemp makes 0700; the unprivileged postfix user must traverse the dir to reach its queue.
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync(configDir, { mode: 0o755 });
  // postfix chdirs to the queue before creating its subdirectories (and data/) itself; root-owned, 0755.
  fs.mkdirSync(path.join(dir, 'queue'), { mode: 0o755 });
  fs.writeFileSync(path.join(configDir, 'main.cf'), mainCf(dir, opts), { mode: 0o644 });
  fs.writeFileSync(path.join(configDir, 'master.cf'), masterCf(smtpPort), { mode: 0o644 });
  backdate(path.join(configDir, 'main.cf'), path.join(configDir, 'master.cf'));

  const log = (): string => readLog(logFile);
  const started = await runUnderPty([postfix, '-c', configDir, 'start']);
  if (started.code !== 0) {
    throw new Error(
      `postfix start failed (exit ${started.code}) for ${configDir}:\n${started.stdout}${started.stderr}\n--- ${logFile} ---\n${log()}`,
    );
  }
  // `postfix start` returns once the master has bound its sockets; this only double-checks, without connecting.
  await waitFor(() => isListening(smtpPort), 10_000, () => `Postfix smtpd on 127.0.0.1:${smtpPort}\n${log()}`);

  let stopped = false;
  const rig: PostfixRig = {
    smtpPort,
    dir,
    configDir,
    logFile,
    log,
    waitForLog: async (pattern, timeoutMs = 10_000) => {
      const matches = (line: string): boolean => (typeof pattern === 'string' ? line.includes(pattern) : pattern.test(line));
      return waitFor(() => log().split('\n').find(matches), timeoutMs, () => `a Postfix log line matching ${String(pattern)}; log:\n${log()}`);
    },
    setMainCf: async (settings) => {
      const args = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
      const result = await runUnderPty([postconf, '-c', configDir, '-e', ...args]);
      if (result.code !== 0) throw new Error(`postconf -e failed: ${result.stdout}${result.stderr}`);
      backdate(path.join(configDir, 'main.cf'));
    },
    reload: async () => {
      const count = (): number => log().split('\n').filter((l) => l.includes('reload -- version')).length;
      const before = count();
      const result = await runUnderPty([postfix, '-c', configDir, 'reload']);
      if (result.code !== 0) {
        throw new Error(`postfix reload failed (exit ${result.code}):\n${result.stdout}${result.stderr}\n--- log ---\n${log()}`);
      }
      await waitFor(() => count() > before, 10_000, () => `Postfix master to log its reload\n${log()}`);
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await removeInstance(dir, postfix);
    },
  };
  return rig;
}

/**
 * Starts a private Postfix: config, queue and data under a fresh directory on tmpfs, smtpd on a
 * free port of 127.0.0.1, everything relayed to 127.0.0.1:relayPort. Throws with Postfix's own
 * error output and log if it does not come up. Several may run at once (distinct dirs and ports).
 */
export async function startPostfix(opts: PostfixRigOptions): Promise<PostfixRig> {
  const { postfix } = findPostfix();
  for (let attempt = 1; ; attempt++) {
    const dir = fs.mkdtempSync(path.join(baseDir(), 'floodgate-postfix-'));
    liveDirs.add(dir);
    try {
      return await startInstance(dir, await freePort(), opts);
    } catch (err) {
      await removeInstance(dir, postfix);
      // freePort cannot reserve the port: another process may take it before the master binds.
      if (attempt < 3 && /address already in use/i.test((err as Error).message)) continue;
      throw err;
    }
  }
}
