// The Debian package end to end, as root on a machine without a running systemd: build (or take
// $FLOODGATE_DEB), lintian, dpkg -i, systemd-analyze verify, the unit's own ExecStart run as the
// unit's user answering a real Postfix, who may use its sockets, then dpkg -r and dpkg --purge
// leaving nothing behind.
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startNotifySocket, type NotifySocket } from '../support/notify-socket';
import { startPostfix, type PostfixRig } from '../support/postfix-rig';
import { killAllTracked, runCommand, spawnTracked, waitFor, type TrackedProcess } from '../support/processes';
import { sendMail, type SendMailResult } from '../support/smtp-client';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink';
import { execArgv, parseUnit, timeSpanUsec, unitValue, type UnitSettings } from '../support/systemd-unit';
import { connectAs, EACCES } from '../support/unix-probe';

jest.setTimeout(300_000);

const REPO = resolve(__dirname, '..', '..');
const UNIT_FILE = '/lib/systemd/system/floodgate.service';
const SOCKET = '/var/spool/postfix/floodgate/floodgate.sock';
const ADMIN_SOCKET = '/run/floodgate/admin.sock';
const FLOODER = '192.0.2.80';
const work = mkdtempSync(join(tmpdir(), 'fg-deb-'));
// The places a package may leave files in; a purge must leave no new path named *floodgate* there.
const SCANNED = ['/etc', '/var', '/usr', '/run', '/lib', '/opt', '/srv'];

let deb: string;
let before: Set<string>;
let unit: UnitSettings;
let service: TrackedProcess | undefined;
let notify: NotifySocket;
let postfix: PostfixRig | undefined;
let sink: SmtpSink;

async function sh(command: string, args: string[], timeoutMs = 120_000): Promise<string> {
  const result = await runCommand(command, args, { timeoutMs });
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.code}:\n${result.stdout}${result.stderr}`);
  return result.stdout + result.stderr;
}

/**
 * Paths named *floodgate*. Not scanned: logs (policy lets dpkg's and apt's logs keep their lines) and
 * man-db's cache of formatted pages, which `man` fills whenever it shows a page (systemd-analyze
 * verify does, for the unit's Documentation=) and mandb clears of pages that are gone.
 */
async function floodgatePaths(): Promise<Set<string>> {
  const roots = SCANNED.filter((dir) => existsSync(dir));
  const skipped = ['/var/log', '/var/cache/man'].flatMap((dir) => ['-path', dir, '-prune', '-o']);
  const found = await runCommand('find', [...roots, '-xdev', ...skipped, '-name', '*floodgate*', '-print'], { timeoutMs: 60_000 });
  return new Set(found.stdout.split('\n').filter((p) => p !== '' && !p.startsWith(REPO) && !p.startsWith(work)));
}

/** packaging/build-deb.sh prints the .deb's path as its last line on stdout. */
async function buildDeb(): Promise<string> {
  const built = await runCommand('bash', [join(REPO, 'packaging', 'build-deb.sh'), join(work, 'out')], { timeoutMs: 280_000 });
  if (built.code !== 0) throw new Error(`packaging/build-deb.sh failed:\n${built.stderr}`);
  return built.stdout.trim().split('\n').pop() ?? '';
}

const status = async (): Promise<string> => (await runCommand('dpkg-query', ['-W', '-f=${Status}', 'floodgate'])).stdout;
const installed = async (): Promise<boolean> => (await status()).includes('ok installed');

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the Debian package test installs a package: run it as root (CI does)');
  if (await installed()) throw new Error('a floodgate package is already installed here; this test installs and purges its own');
  before = await floodgatePaths();
  deb = process.env.FLOODGATE_DEB || (await buildDeb());
  if (!existsSync(deb)) throw new Error(`no .deb at ${deb}`);
  sink = await startSmtpSink();
});

afterAll(async () => {
  await postfix?.stop();
  await killAllTracked();
  await sink?.close();
  if (!/^$|not-installed/.test(await status())) await runCommand('dpkg', ['--purge', 'floodgate']);
  rmSync(work, { recursive: true, force: true });
});

test('lintian reports no errors and no warnings (the overridden ones are explained in the package)', async () => {
  const result = await runCommand('lintian', ['--fail-on', 'error', deb], { timeoutMs: 120_000 });
  const hints = (result.stdout + result.stderr).split('\n').filter((l) => /^[EW]: /.test(l));
  expect(hints).toEqual([]);
  expect(result.code).toBe(0);
});

test('dpkg -i installs it: user in group postfix, directories, conffiles, the command', async () => {
  const install = await runCommand('dpkg', ['-i', deb], { timeoutMs: 120_000 });
  if (install.code !== 0) await sh('apt-get', ['-f', 'install', '-y', '-q'], 240_000); // Debian dependencies
  expect(await installed()).toBe(true);
  expect(await sh('id', ['-nG', 'floodgate'])).toMatch(/^floodgate postfix\n$/);
  expect(await sh('stat', ['-c', '%U:%G %a', '/var/lib/floodgate', '/var/spool/postfix/floodgate'])).toBe('floodgate:floodgate 750\nfloodgate:postfix 750\n');
  expect(readFileSync('/var/lib/dpkg/info/floodgate.conffiles', 'utf8').trim().split('\n').sort())
    .toEqual(['/etc/fail2ban/filter.d/floodgate.conf', '/etc/floodgate/floodgate.yml', '/etc/floodgate/rules.d/default.yml']);
  expect(await sh('floodgate', ['--version'])).toMatch(/^floodgate \d+\.\d+\.\d+\n$/);
  expect(await sh('floodgate', ['check-rules'])).toContain('OK:'); // the installed config and rules
});

test('systemd-analyze verify accepts the unit', async () => {
  const verify = await runCommand('systemd-analyze', ['verify', UNIT_FILE], { timeoutMs: 60_000 });
  const aboutUs = (verify.stdout + verify.stderr).split('\n').filter((l) => l.includes('floodgate'));
  expect(aboutUs).toEqual([]);
  expect(verify.code).toBe(0);
  unit = parseUnit(readFileSync(UNIT_FILE, 'utf8'));
  expect(unitValue(unit, 'Service.Type')).toBe('notify');
  expect(unitValue(unit, 'Service.SyslogFacility')).toBe('mail'); // beside Postfix in mail.log
});

test('fail2ban finds the installed filter by its name', async () => {
  const line = '{"answer":"tempfail","client":"192.0.2.80","conn":"c1","level":"info","message":"answer","reply":"451 4.7.1 Too much mail","rule":"recipients","timestamp":"2026-01-01T00:00:00.000Z"}';
  expect(await sh('fail2ban-regex', ['-o', '<ip>', line, 'floodgate'])).toBe('192.0.2.80\n');
});

/** What systemd would prepare before ExecStart: the unit's directories, owned by its user. */
function prepareDirectories(user: string, group: string): Record<string, string> {
  const dirs: Record<string, string> = {};
  for (const [kind, base, variable] of [['Runtime', '/run', 'RUNTIME_DIRECTORY'], ['State', '/var/lib', 'STATE_DIRECTORY']] as const) {
    const dir = join(base, unitValue(unit, `Service.${kind}Directory`));
    mkdirSync(dir, { recursive: true });
    chownSync(dir, Number(readId('passwd', user)), Number(readId('group', group)));
    chmodSync(dir, parseInt(unitValue(unit, `Service.${kind}DirectoryMode`), 8));
    dirs[variable] = dir;
  }
  return dirs;
}

function readId(database: 'passwd' | 'group', name: string): string {
  const line = readFileSync(`/etc/${database}`, 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`no ${name} in /etc/${database}`);
  return line.split(':')[2];
}

function rcptVerdict(result: SendMailResult, index = 0): string {
  const reply = result.rcpts[index];
  return reply ? `${reply.code}` : `no rcpt (${result.failedAt})`;
}

function send(rcpts: string[], n: number): Promise<SendMailResult> {
  return sendMail(postfix!.smtpPort, { helo: 'pc.customer.example', xclient: `ADDR=${FLOODER} NAME=[UNAVAILABLE]`, from: `user${n}@example.org`, rcpts });
}

/** Runs the unit's ExecStart as systemd would (its user, group, umask, directories, notify socket); resolves at READY=1. */
async function startUnitService(): Promise<{ service: TrackedProcess; dirs: Record<string, string>; user: string; group: string; env: NodeJS.ProcessEnv }> {
  const user = unitValue(unit, 'Service.User');
  const group = unitValue(unit, 'Service.Group');
  const dirs = prepareDirectories(user, group);
  chmodSync(work, 0o755); // the notification socket lives here and the service's user must reach it
  notify ??= await startNotifySocket(work);
  const seen = notify.messages().length;
  const env = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/var/lib/floodgate', USER: user, LOGNAME: user, ...dirs,
    NOTIFY_SOCKET: notify.path,
    WATCHDOG_USEC: String(timeSpanUsec(unitValue(unit, 'Service.WatchdogSec'))),
  };
  const argv = execArgv(unitValue(unit, 'Service.ExecStart'), env);
  const umask = unitValue(unit, 'Service.UMask');
  const started = spawnTracked('setpriv', ['--reuid', user, '--regid', group, '--init-groups', '--', 'sh', '-c', `umask ${umask} && exec "$@"`, 'sh', ...argv], { env, cwd: '/' });
  await notify.waitForMessage((m) => m.startsWith('READY=1'), 20_000, seen).catch((error: Error) => {
    throw new Error(`${error.message}\nservice output:\n${started.output()}`);
  });
  return { service: started, dirs, user, group, env };
}

test("the unit's ExecStart, as its user, is ready for a real Postfix and tempfails a flood after 60 recipients", async () => {
  const started = await startUnitService();
  service = started.service;
  const { dirs, user, group, env } = started;
  expect(await sh('stat', ['-c', '%U:%G %a', SOCKET])).toBe('floodgate:postfix 660\n');

  // The documented main.cf line is smtpd_milters = unix:/floodgate/floodgate.sock, relative to
  // Debian's chrooted smtpd in /var/spool/postfix. The rig's queue is private and its smtpd is not
  // chrooted, so it names the same socket by its absolute path. smtpd runs as user postfix.
  postfix = await startPostfix({ milter: `unix:${SOCKET}`, relayPort: sink.port, milterDefaultAction: 'tempfail' });

  // Shipped rules: a point per recipient; above 40 a 2 s delay, above 60 a 451.
  const burst = await send(Array.from({ length: 40 }, (_, i) => `friend${i}@example.com`), 0);
  expect(burst.rcpts.map((r) => r.code)).toEqual(Array(40).fill(250));
  expect(burst.accepted).toBe(true);
  // Twenty sessions at once, so that their 2 s delays overlap instead of adding up.
  const delayed = await Promise.all(Array.from({ length: 20 }, (_, i) => send([`late${i}@example.com`], i + 1)));
  expect(delayed.map((r) => rcptVerdict(r))).toEqual(Array(20).fill('250'));
  expect(Math.min(...delayed.map((r) => r.rcpts[0].elapsedMs))).toBeGreaterThanOrEqual(1500);
  const refused = await send(['one-too-many@example.com'], 99);
  expect(refused.rcpts[0].raw).toMatch(/^451 4\.7\.1 Too much mail from your address/);
  await waitFor(() => sink.messages.reduce((n, m) => n + m.rcpts.length, 0) >= 60, 20_000, 'Postfix to relay 60 recipients to the sink');

  // The operator CLI as root reaches the service through /run/floodgate/admin.sock.
  expect(await sh('floodgate', ['scores', 'show', `ip:${FLOODER}`])).toMatch(/ip:192\.0\.2\.80\s+6[01]\.\d\d/);

  // Issue 19, who may talk to it. The milter socket: smtpd's user postfix (it just delivered),
  // not a user outside group postfix.
  expect(await connectAs(SOCKET, 'postfix', 'postfix', 'init')).toBe('connected');
  expect(await connectAs(SOCKET, 'nobody', 'nogroup')).toBe(EACCES);
  // The admin socket: root (above) and the service's user, with the CLI as well; no one else.
  expect(await sh('stat', ['-c', '%U:%G %a', ADMIN_SOCKET])).toBe(`${user}:${group} 600\n`);
  expect(await connectAs(ADMIN_SOCKET, user, group, 'init')).toBe('connected');
  const asService = await runCommand('setpriv', [`--reuid=${user}`, `--regid=${group}`, '--init-groups', '--', 'floodgate', 'scores', 'show', `ip:${FLOODER}`], { env: { PATH: env.PATH, HOME: env.HOME }, cwd: '/' });
  expect(`${asService.code} ${asService.stdout}${asService.stderr}`).toMatch(/^0 [\s\S]*ip:192\.0\.2\.80\s+6[01]\.\d\d/);
  expect(await connectAs(ADMIN_SOCKET, 'postfix', 'postfix', 'init')).toBe(EACCES);
  expect(await connectAs(ADMIN_SOCKET, 'nobody', 'nogroup')).toBe(EACCES);
  // Nothing it wrote (scores, tracking.sqlite, sockets) is writable by every user.
  const written = await sh('ls', [dirs.STATE_DIRECTORY]);
  expect([/^scores$/m.test(written), /^tracking\.sqlite$/m.test(written)]).toEqual([true, true]);
  expect(await sh('find', [dirs.STATE_DIRECTORY, dirs.RUNTIME_DIRECTORY, '/var/spool/postfix/floodgate', '!', '-type', 'l', '-perm', '-0002'])).toBe('');

  // ExecReload, as systemd runs it, then a stop: RELOADING=1/READY=1, then STOPPING=1 and exit 0.
  const seen = notify.messages().length;
  const [reload, ...reloadArgs] = execArgv(unitValue(unit, 'Service.ExecReload'), { MAINPID: String(service.pid) });
  await sh(reload, reloadArgs);
  const reloading = await notify.waitForMessage((m) => m === 'RELOADING=1', 10_000, seen);
  await notify.waitForMessage((m) => m.startsWith('READY=1'), 10_000, reloading);
  service.child.kill('SIGTERM');
  expect((await service.exited).code).toBe(0);
  rmSync(dirs.RUNTIME_DIRECTORY, { recursive: true, force: true }); // as systemd does once the service stopped
  expect(notify.messages()).toContain('STOPPING=1');
  expect(service.output()).toMatch(/^\{"answer":"tempfail","client":"192\.0\.2\.80",/m); // the answer line (the decision line is debug)
  expect(service.output()).not.toMatch(/"level":"(warn|error)"/);
});

test("SIGKILL: the unit's Restart= brings it back (no systemd here: the test restarts ExecStart as systemd would), on the same socket, with its scores", async () => {
  // There is no running systemd on this machine, so what systemd would do is read from the unit:
  // systemd.service(5) restarts a service killed by any signal but SIGHUP, SIGINT, SIGTERM and
  // SIGPIPE under Restart=on-failure, on-abnormal and always, after RestartSec=.
  expect(['on-failure', 'on-abnormal', 'always']).toContain(unitValue(unit, 'Service.Restart'));
  expect((unit.get('Service.SuccessExitStatus') ?? []).join(' ')).not.toMatch(/KILL/);
  const restartMs = timeSpanUsec(unitValue(unit, 'Service.RestartSec')) / 1000;
  // A damaged LevelDB directory exits 65, which must not be restarted into (fault-damaged-level.test.ts).
  expect(unitValue(unit, 'Service.RestartPreventExitStatus').split(/\s+/)).toContain('65');

  const first = await startUnitService();
  service = first.service;
  first.service.child.kill('SIGKILL');
  expect((await first.service.exited).signal).toBe('SIGKILL');
  // While it is down: Postfix's milter_default_action (tempfail) for new sessions.
  const down = await send(['while-down@example.com'], 300);
  expect(down.failedAt).toBe('mail');
  expect(down.mail).toBeUndefined();
  expect(down.transcript[down.transcript.length - 1]?.reply.raw).toMatch(/^451 4\.7\.1 /);

  await new Promise((r) => setTimeout(r, restartMs));
  const again = await startUnitService(); // removes the socket file the killed process left
  service = again.service;
  expect(await sh('stat', ['-c', '%U:%G %a', SOCKET])).toBe('floodgate:postfix 660\n');
  // The flooder's score was on disk: still refused after the kill.
  const refused = await send(['after-restart@example.com'], 301);
  expect(refused.rcpts[0]?.raw).toMatch(/^451 4\.7\.1 Too much mail from your address/);
  service.child.kill('SIGTERM');
  expect((await service.exited).code).toBe(0);
  rmSync(again.dirs.RUNTIME_DIRECTORY!, { recursive: true, force: true });
});

test('dpkg -r keeps scores and configuration; dpkg --purge leaves nothing behind', async () => {
  await postfix?.stop();
  postfix = undefined;
  await service?.kill(); // systemd's prerm stop; here the test started it, so the test stops it
  await sh('dpkg', ['-r', 'floodgate']);
  expect(existsSync('/usr/lib/floodgate')).toBe(false);
  expect(existsSync('/usr/bin/floodgate')).toBe(false);
  expect(existsSync('/etc/floodgate/floodgate.yml')).toBe(true);
  expect(existsSync('/var/lib/floodgate/scores')).toBe(true);
  expect(await sh('id', ['-un', 'floodgate'])).toBe('floodgate\n');

  await sh('dpkg', ['--purge', 'floodgate']);
  const left = [...(await floodgatePaths())].filter((p) => !before.has(p));
  expect(left).toEqual([]);
  expect((await runCommand('getent', ['passwd', 'floodgate'])).code).toBe(2);
  expect((await runCommand('getent', ['group', 'floodgate'])).code).toBe(2);
  expect(readFileSync('/etc/group', 'utf8')).not.toMatch(/\bfloodgate\b/);
});
