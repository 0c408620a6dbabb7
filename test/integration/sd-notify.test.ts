// `floodgate run` under a stand-in systemd: READY=1 once the milter socket accepts, watchdog pings
// at half of WATCHDOG_USEC, RELOADING=1/READY=1 on SIGHUP, STOPPING=1 on SIGTERM (real libsystemd).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../support/floodgate-process';
import { startNotifySocket, type NotifySocket } from '../support/notify-socket';
import { killAllTracked, spawnTracked, waitFor } from '../support/processes';

jest.setTimeout(30_000);

const dir = mkdtempSync(join(tmpdir(), 'fg-notify-'));
let notify: NotifySocket;

beforeAll(async () => {
  notify = await startNotifySocket(dir);
});
afterAll(async () => {
  await killAllTracked();
  rmSync(dir, { recursive: true, force: true });
});

function accepts(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

test('READY=1 when the socket accepts, watchdog pings, RELOADING/READY on SIGHUP, STOPPING=1 on SIGTERM', async () => {
  const milterSocket = join(dir, 'milter.sock');
  const config = join(dir, 'floodgate.yml');
  writeFileSync(config, `listen: unix:${milterSocket}\nstate_dir: state\nstore: { backend: memory }\nhttp: { listen: "off" }\n`);
  const env = { ...process.env, NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: '200000', FLOODGATE_CONFIG: '' };
  const service = spawnTracked(process.execPath, [CLI, 'run', '--config', config], { env });

  const ready = await notify.waitForMessage((m) => m.startsWith('READY=1'), 10_000);
  expect(await accepts(milterSocket)).toBe(true);
  expect(notify.messages()[ready]).toBe(`READY=1\nSTATUS=listening on unix:${milterSocket}`);
  // The log line comes through the service's stdout, READY through the notify socket: either may be
  // read first (CI under node 18 read READY before the line).
  await waitFor(() => service.output().includes('"ping_ms":100'), 3000, 'the watchdog log line');
  expect(service.output()).toContain('"ping_ms":100');

  // 200 ms watchdog: a ping every 100 ms from the event loop.
  await waitFor(() => notify.messages().filter((m) => m === 'WATCHDOG=1').length >= 3, 3000, 'three watchdog pings');

  const beforeReload = notify.messages().length;
  service.child.kill('SIGHUP');
  const reloading = await notify.waitForMessage((m) => m === 'RELOADING=1', 5000, beforeReload);
  await notify.waitForMessage((m) => m.startsWith('READY=1'), 5000, reloading);

  service.child.kill('SIGTERM');
  const exit = await service.exited;
  expect(exit.code).toBe(0);
  const all = notify.messages();
  expect(all).toContain('STOPPING=1');
  expect(all.slice(all.indexOf('STOPPING=1') + 1)).not.toContain('WATCHDOG=1');
  expect(service.output()).not.toMatch(/"level":"(warn|error)"/);
});

test('without NOTIFY_SOCKET the service neither loads libsystemd nor complains', async () => {
  const config = join(dir, 'plain.yml');
  writeFileSync(config, `listen: unix:${join(dir, 'plain.sock')}\nstate_dir: state2\nstore: { backend: memory }\nhttp: { listen: "off" }\n`);
  const env: NodeJS.ProcessEnv = { ...process.env, FLOODGATE_CONFIG: '' };
  delete env.NOTIFY_SOCKET;
  delete env.WATCHDOG_USEC;
  const service = spawnTracked(process.execPath, [CLI, 'run', '--config', config], { env });
  await waitFor(() => service.output().includes('"listening"'), 10_000, () => `floodgate to listen: ${service.output()}`);
  service.child.kill('SIGTERM');
  expect((await service.exited).code).toBe(0);
  expect(service.output()).not.toMatch(/systemd|"level":"(warn|error)"/);
});
