// Issue 19, point 5: who may talk to a running Floodgate, and that nothing it writes is
// world-writable, even when it is started with umask 000. Runs as root (CI does): users are
// switched with setpriv (test/support/unix-probe.ts).
import { chmodSync, lstatSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, floodgateCli } from '../support/floodgate-process';
import { MtaClient } from '../support/mta-client';
import { killAllTracked, spawnTracked, waitFor, type TrackedProcess } from '../support/processes';
import { connectAs as connectAsUser, EACCES, groupId as gid } from '../support/unix-probe';

jest.setTimeout(60_000);

const dir = mkdtempSync(join(tmpdir(), 'fg-perm-'));
const MILTER = join(dir, 'milter.sock');
const HTTP = join(dir, 'http.sock');
const STATE = join(dir, 'state');
const ADMIN = join(STATE, 'admin.sock');
const config = join(dir, 'floodgate.yml');
let service: TrackedProcess;

/** connect(2) as user nobody with primary group `group` and the supplementary `groups`. */
const connectAs = (path: string, group: string, groups: number[] = []) => connectAsUser(path, 'nobody', group, groups);

/** Every path under `root` (itself included) whose mode lets any user write it; symlinks are not modes. */
function worldWritable(root: string): string[] {
  const found: string[] = [];
  const visit = (path: string) => {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) return;
    if (stat.mode & 0o002) found.push(`${path} ${(stat.mode & 0o7777).toString(8)}`);
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(root);
  return found;
}

const mode = (path: string) => (statSync(path).mode & 0o7777).toString(8);

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the permission tests switch users with setpriv: run them as root (CI does)');
  chmodSync(dir, 0o755); // others may reach the sockets: their own modes must keep them out
  writeFileSync(
    config,
    `listen: unix:${MILTER}\nsocket: { mode: "0660", group: postfix }\nstate_dir: ${STATE}\nstore: { backend: level }\ntracking: { backend: sqlite }\nhttp: { listen: "unix:${HTTP}" }\n`,
  );
  // umask 000: whatever Floodgate creates gets exactly the mode it asks for.
  service = spawnTracked('sh', ['-c', 'umask 000 && exec "$@"', 'sh', process.execPath, CLI, 'run', '--config', config]);
  await waitFor(() => /"message":"listening"/.test(service.output()) || service.child.exitCode !== null, 15_000, () => `floodgate to listen:\n${service.output()}`);
  if (service.child.exitCode !== null) throw new Error(`floodgate exited ${service.child.exitCode}:\n${service.output()}`);
  // A few sessions, so that the score store and the tracking log have written their files.
  for (let i = 0; i < 3; i++) {
    const mta = await MtaClient.open({ path: MILTER });
    await mta.negotiate();
    mta.connectInfo('[192.0.2.9]', '192.0.2.9');
    await mta.answerTo('C');
    mta.send('H', 'client.example.org\0');
    await mta.answerTo('H');
    mta.send('M', '<a@example.org>\0');
    await mta.answerTo('M');
    mta.send('R', '<b@example.com>\0');
    await mta.answerTo('R');
    mta.send('Q');
    await mta.waitClosed();
  }
  await waitFor(() => readdirSync(STATE).some((name) => name.startsWith('tracking.sqlite')), 10_000, 'the tracking log to be written');
});

afterAll(async () => {
  await killAllTracked();
  rmSync(dir, { recursive: true, force: true });
});

test('the milter socket (group postfix, 0660): a user outside group postfix is refused, one in it connects', async () => {
  expect(`${statSync(MILTER).gid} ${mode(MILTER)}`).toBe(`${gid('postfix')} 660`);
  expect(await connectAs(MILTER, 'nogroup')).toBe(EACCES);
  expect(await connectAs(MILTER, 'nogroup', [gid('postfix')])).toBe('connected');
  expect(await connectAs(MILTER, 'postfix')).toBe('connected');
});

test('the admin socket (0600 in a 0750 state directory): only the service user (here root) and root; not even the directory\'s group', async () => {
  expect([mode(STATE), mode(ADMIN)]).toEqual(['750', '600']);
  expect(await connectAs(ADMIN, 'nogroup')).toBe(EACCES); // the directory already keeps others out
  expect(await connectAs(ADMIN, 'root')).toBe(EACCES); // the state directory's group gets in, the socket's mode refuses
  const asRoot = await floodgateCli('scores', 'top', '--config', config);
  expect(asRoot.code).toBe(0);
  expect(asRoot.stdout).toContain('ip:192.0.2.9');
});

test('the HTTP unix socket (0660): others are refused', async () => {
  expect(mode(HTTP)).toBe('660');
  expect(await connectAs(HTTP, 'nogroup')).toBe(EACCES);
});

test('nothing Floodgate wrote (state directory, LevelDB, tracking.sqlite, sockets) is world-writable under umask 000', () => {
  const written = readdirSync(STATE);
  expect(written).toEqual(expect.arrayContaining(['admin.sock', 'scores', expect.stringMatching(/^tracking\.sqlite/)]));
  expect(readdirSync(join(STATE, 'scores')).length).toBeGreaterThan(0);
  expect(worldWritable(STATE)).toEqual([]);
  expect(worldWritable(MILTER)).toEqual([]);
  expect(worldWritable(HTTP)).toEqual([]);
});
