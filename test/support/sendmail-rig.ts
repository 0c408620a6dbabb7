// A private, loopback-only Sendmail 8.17 daemon for end-to-end tests, relaying everything to a local
// SMTP sink and optionally calling a milter. Sendmail is unpacked (not installed) by
// scripts/install-test-deps.sh; facts behind the choices below are in /work/shared/REAL-MTAS.md.
//
// How it runs: `unshare --uts --mount --pid --kill-child=SIGKILL sh -c SETUP sendmail -C cf -bD`.
// - UTS namespace: a qualified host name (rig.test.example), else Sendmail sleeps 60 s at start.
// - PID namespace: Sendmail is PID 1 of its own namespace, so killing it takes every session and
//   delivery child with it, and `unshare` exits only after all of them are gone.
// - Mount namespace: /dev is replaced by a copy (bind mounts of every /dev entry) plus a /dev/log
//   that points at a unix stream socket this module listens on; glibc's syslog() falls back to a
//   stream socket, so Sendmail's whole syslog output (see log()) arrives here although the machine
//   has no syslog. Nothing outside the namespace sees these mounts.
// Must run as real root (`-C` keeps privileges only for real root; unshare needs CAP_SYS_ADMIN).
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { freePort } from './ports';
import { pidAlive, runCommand, spawnTracked, TrackedProcess, waitFor } from './processes';

const REPO = path.resolve(__dirname, '..', '..');
const SM = path.join(REPO, '.test-deps', 'sendmail');
export const SENDMAIL_BIN = path.join(SM, 'usr/libexec/sendmail/sendmail');
const SM_LIB = path.join(SM, 'usr/lib/x86_64-linux-gnu');
const CF_DIR = path.join(SM, 'usr/share/sendmail/cf');
/** The qualified host name Sendmail runs under ($j: greeting, Received:, Message-Id). */
export const SENDMAIL_HOSTNAME = 'rig.test.example';
const START_TIMEOUT_MS = 15_000;

export interface SendmailOptions {
  /** Milter socket as in Sendmail's S= (e.g. 'inet:8895@127.0.0.1', 'unix:/path'); none if omitted. */
  milter?: string;
  /** The milter's F= value (default 'T': tempfail when the milter is unavailable; '' for none). */
  milterFlags?: string;
  /** The milter's T= value (default 'C:10s;S:10s;R:10s;E:5m'). */
  milterTimeouts?: string;
  /** Port of the SMTP sink on 127.0.0.1 that receives every accepted message. */
  relayPort: number;
  /** Sendmail LogLevel (default 15: connections, every SMTP command and reply, deliveries). */
  logLevel?: number;
  /** Extra .mc lines, inserted before the MAILER lines (e.g. define(`confMILTER_MACROS_CONNECT', ...)). */
  extraMc?: string;
}

export interface SendmailRig {
  /** SMTP port on 127.0.0.1. */
  smtpPort: number;
  /** The instance's private directory (cf, queue, maps); removed by stop(). */
  dir: string;
  /** Host PID of the Sendmail daemon. */
  pid: number;
  /** Kills the daemon and all its children, waits until they are gone, removes dir. Idempotent. */
  stop(): Promise<void>;
  /**
   * Everything Sendmail logged so far: its syslog lines ("Nov 22 03:24:50 sendmail[119]: <qid>:
   * ..."; PIDs are those inside its PID namespace; the daemon is sendmail[1]) followed by anything
   * it printed on stdout/stderr (errors before it starts listening).
   */
  log(): string;
}

function missing(what: string): Error {
  return new Error(`Sendmail test rig: ${what}. Run scripts/install-test-deps.sh (as root) first.`);
}

function preflight(): void {
  if (!fs.existsSync(SENDMAIL_BIN)) throw missing(`${SENDMAIL_BIN} is missing`);
  if ((fs.statSync(SENDMAIL_BIN).mode & 0o2000) !== 0) {
    throw missing(`${SENDMAIL_BIN} is still setgid, so the loader would ignore LD_LIBRARY_PATH (libwrap)`);
  }
  if (!fs.existsSync(path.join(SM_LIB, 'libwrap.so.0'))) throw missing(`libwrap.so.0 is missing in ${SM_LIB}`);
  if (!fs.existsSync(path.join(CF_DIR, 'm4', 'cf.m4'))) throw missing(`Sendmail's cf tree is missing in ${CF_DIR}`);
  if (process.getuid?.() !== 0) {
    throw new Error('Sendmail test rig: must run as real root (sendmail -C drops privileges otherwise; unshare needs CAP_SYS_ADMIN)');
  }
}

function mcFile(dir: string, smtpPort: number, opts: SendmailOptions): string {
  const p = (f: string): string => path.join(dir, f);
  const lines = [
    'divert(-1)',
    'divert(0)dnl',
    "OSTYPE(`linux')dnl",
    `define(\`confDOMAIN_NAME', \`${SENDMAIL_HOSTNAME}')dnl`,
    `define(\`confPID_FILE', \`${p('sendmail.pid')}')dnl`,
    `define(\`QUEUE_DIR', \`${p('queue')}')dnl`,
    `define(\`STATUS_FILE', \`${p('statistics')}')dnl`,
    `define(\`HELP_FILE', \`${p('helpfile')}')dnl`,
    // An (empty) text alias file: without one, local recipients wait in the queue.
    `define(\`ALIAS_FILE', \`${p('aliases')}')dnl`,
    `define(\`confSERVICE_SWITCH_FILE', \`${p('service.switch')}')dnl`,
    `define(\`confHOSTS_FILE', \`${p('hosts')}')dnl`,
    // Deliver at once in a forked child: accepted mail reaches the sink within ~1 s.
    "define(`confDELIVERY_MODE', `background')dnl",
    // Milter sockets and this directory may sit in sticky world-writable dirs (/tmp, /dev/shm).
    "define(`confDONT_BLAME_SENDMAIL', `TrustStickyBit')dnl",
    "define(`confDONT_PROBE_INTERFACES', `True')dnl",
    // A busy test machine must not make Sendmail queue or refuse connections.
    "define(`confQUEUE_LA', `999')dnl",
    "define(`confREFUSE_LA', `999')dnl",
    "define(`confDELAY_LA', `0')dnl",
    `define(\`confLOG_LEVEL', \`${opts.logLevel ?? 15}')dnl`,
    "define(`SMART_HOST', `relay:[127.0.0.1]')dnl",
    "define(`MAIL_HUB', `relay:[127.0.0.1]')dnl",
    "define(`LOCAL_RELAY', `relay:[127.0.0.1]')dnl",
    `define(\`RELAY_MAILER_ARGS', \`TCP $h ${opts.relayPort}')dnl`,
    "FEATURE(`no_default_msa')dnl",
    "FEATURE(`nocanonify')dnl",
    "FEATURE(`accept_unresolvable_domains')dnl",
    `DAEMON_OPTIONS(\`Port=${smtpPort}, Addr=127.0.0.1, Name=MTA')dnl`,
  ];
  if (opts.milter !== undefined) {
    const flags = opts.milterFlags ?? 'T';
    const fields = [`S=${opts.milter}`, ...(flags ? [`F=${flags}`] : []), `T=${opts.milterTimeouts ?? 'C:10s;S:10s;R:10s;E:5m'}`];
    lines.push(`INPUT_MAIL_FILTER(\`floodgate', \`${fields.join(', ')}')dnl`);
  }
  if (opts.extraMc) lines.push(opts.extraMc.trimEnd());
  lines.push("MAILER(`smtp')dnl", '');
  return lines.join('\n');
}

// $1 = instance dir, $2 = libwrap dir, rest = the sendmail command. A failure to build the private
// /dev leaves /dev alone (Sendmail then runs without a log) rather than failing the start.
const SETUP = `
set -e
dir=$1; lib=$2; shift 2
hostname ${SENDMAIL_HOSTNAME}
if ! ( set -e
  d="$dir/dev"; mkdir "$d"
  for e in /dev/* /dev/.[!.]*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    n=\${e#/dev/}
    [ "$n" = log ] && continue
    if [ -L "$e" ]; then cp -P "$e" "$d/$n"
    elif [ -d "$e" ]; then mkdir "$d/$n"; mount --rbind "$e" "$d/$n"
    else : > "$d/$n"; mount --bind "$e" "$d/$n"; fi
  done
  ln -s "$dir/syslog.sock" "$d/log"
  mount --rbind "$d" /dev
) 2> "$dir/dev-setup.err"; then
  echo "sendmail-rig: no private /dev/log, Sendmail's syslog is lost: $(cat "$dir/dev-setup.err")" >&2
fi
export LD_LIBRARY_PATH="$lib"
exec "$@"
`;

/** Collects syslog messages (NUL-terminated on a stream socket) sent to dir/syslog.sock. */
async function startLogCollector(sockPath: string): Promise<{ lines: string[]; close(): Promise<void> }> {
  const lines: string[] = [];
  const conns = new Set<net.Socket>();
  const server = net.createServer((s) => {
    conns.add(s);
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      buf += chunk;
      const parts = buf.split(/\0|\n/);
      buf = parts.pop() ?? '';
      for (const m of parts) if (m) lines.push(m.replace(/^<\d+>/, ''));
    });
    s.on('error', () => s.destroy());
    s.on('close', () => conns.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(sockPath, () => resolve());
  });
  return {
    lines,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of conns) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Resolves true once port answers with a 220 greeting (then QUITs), false on anything else. */
function greets220(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    let got = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      if (ok) sock.end('QUIT\r\n');
      else sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 2000);
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      got += d;
      if (got.includes('\n')) done(got.startsWith('220'));
    });
    sock.on('error', () => done(false));
    sock.on('close', () => done(false));
  });
}

/** True once pid holds a socket listening on 127.0.0.1:port (read from /proc: no connection made). */
function listening(pid: number, port: number): boolean {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes = new Set<string>();
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[3] === '0A') inodes.add(f[9]);
  }
  if (inodes.size === 0) return false;
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return inodes.has(/^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? '');
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/** Host PID of the direct child of ppid (unshare forks exactly one: the sendmail daemon). */
function childOf(ppid: number): number | undefined {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) return Number(entry);
    } catch {
      // The process went away while we looked.
    }
  }
  return undefined;
}

/**
 * Builds a .cf in a fresh private directory and starts Sendmail on a free 127.0.0.1 port. Resolves
 * once it listens: without a milter, once a probe session got its 220 greeting; with a milter,
 * once the daemon's listening socket shows in /proc (no probe, so the milter sees no extra
 * session). Throws (with the log) if the binary is missing, m4 fails or Sendmail exits or hangs.
 */
export async function startSendmail(opts: SendmailOptions): Promise<SendmailRig> {
  preflight();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'floodgate-sendmail-'));
  const smtpPort = await freePort();
  let proc: TrackedProcess | undefined;
  let collector: Awaited<ReturnType<typeof startLogCollector>> | undefined;
  let stopped: Promise<void> | undefined;
  let smPid = 0;

  const log = (): string => {
    const out = proc?.output().trim();
    return [...(collector?.lines ?? []), ...(out ? ['--- sendmail stdout/stderr ---', out] : [])].join('\n');
  };
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      if (proc) {
        // SIGKILL to PID 1 of the namespace kills every process in it; unshare exits after all are reaped.
        try {
          if (smPid) process.kill(smPid, 'SIGKILL');
        } catch {
          // Already gone.
        }
        const t = setTimeout(() => void proc?.kill(0), 5000);
        await proc.exited;
        clearTimeout(t);
        if (smPid) await waitFor(() => !pidAlive(smPid), 5000, `Sendmail PID ${smPid} to exit`);
      }
      await collector?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    })());

  try {
    fs.mkdirSync(path.join(dir, 'queue'), { mode: 0o700 });
    for (const f of ['aliases', 'helpfile', 'statistics']) fs.writeFileSync(path.join(dir, f), '');
    fs.writeFileSync(path.join(dir, 'service.switch'), 'hosts files\naliases files\n');
    fs.writeFileSync(path.join(dir, 'hosts'), `127.0.0.1 localhost ${SENDMAIL_HOSTNAME}\n`);
    const mc = path.join(dir, 'sendmail.mc');
    const cf = path.join(dir, 'sendmail.cf');
    fs.writeFileSync(mc, mcFile(dir, smtpPort, opts));
    const m4 = await runCommand('m4', [`-D_CF_DIR_=${CF_DIR}/`, path.join(CF_DIR, 'm4', 'cf.m4'), mc]).catch((e: Error) => {
      throw missing(`m4 failed to run (${e.message})`);
    });
    if (m4.code !== 0 || /ERROR/.test(m4.stderr)) throw new Error(`Sendmail test rig: m4 failed on ${mc}:\n${m4.stderr}`);
    fs.writeFileSync(cf, m4.stdout, { mode: 0o644 });

    collector = await startLogCollector(path.join(dir, 'syslog.sock'));
    const started = Date.now();
    proc = spawnTracked('unshare', ['--uts', '--mount', '--pid', '--kill-child=SIGKILL', 'sh', '-c', SETUP, 'sendmail-rig',
      dir, SM_LIB, SENDMAIL_BIN, '-C', cf, '-bD']);
    const p = proc;
    for (;;) {
      if (p.child.exitCode !== null || p.child.signalCode !== null) {
        throw new Error(`Sendmail exited (code ${p.child.exitCode}, signal ${p.child.signalCode}) before answering on 127.0.0.1:${smtpPort}`);
      }
      if (Date.now() - started > START_TIMEOUT_MS) {
        throw new Error(`Sendmail did not listen/answer 220 on 127.0.0.1:${smtpPort} within ${START_TIMEOUT_MS} ms`);
      }
      smPid ||= childOf(p.pid) ?? 0;
      // With a milter, every SMTP session (a probe too) opens a milter connection before the
      // greeting, so the milter under test would see a phantom client: only check the listener.
      if (smPid && listening(smPid, smtpPort) && (opts.milter !== undefined || (await greets220(smtpPort)))) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    const text = log();
    await stop();
    const e = err as Error;
    e.message += `\n--- Sendmail log (${dir}) ---\n${text || '(empty)'}`;
    throw e;
  }
  return { smtpPort, dir, pid: smPid, stop, log };
}
