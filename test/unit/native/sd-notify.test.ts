// systemdNotifier: what is sent when, the watchdog interval, and the no-op paths (no systemd, no libsystemd).
import { systemdNotifier, watchdogIntervalMs, type SendNotification } from '../../../src/native/sd-notify';

function recorder(result = 1): { sent: string[]; bind: () => SendNotification } {
  const sent: string[] = [];
  return { sent, bind: () => (state) => (sent.push(state), result) };
}

afterEach(() => jest.useRealTimers());

test('without NOTIFY_SOCKET nothing is bound or sent', () => {
  const bind = jest.fn();
  const notifier = systemdNotifier({ env: { WATCHDOG_USEC: '1000000' }, bind });
  notifier.ready('listening');
  notifier.stopping();
  expect(notifier.enabled).toBe(false);
  expect(bind).not.toHaveBeenCalled();
});

test('READY=1 carries the status line; reload is RELOADING=1 then READY=1; shutdown STOPPING=1', () => {
  const { sent, bind } = recorder();
  const notifier = systemdNotifier({ env: { NOTIFY_SOCKET: '/run/systemd/notify' }, bind });
  expect(notifier.enabled).toBe(true);
  notifier.ready('listening on unix:/x.sock');
  notifier.reloading();
  notifier.ready();
  notifier.stopping();
  expect(sent).toEqual(['READY=1\nSTATUS=listening on unix:/x.sock', 'RELOADING=1', 'READY=1', 'STOPPING=1']);
});

test('watchdog pings start at READY, come every half WATCHDOG_USEC, and stop at STOPPING', () => {
  jest.useFakeTimers();
  const { sent, bind } = recorder();
  const notifier = systemdNotifier({ env: { NOTIFY_SOCKET: '@notify', WATCHDOG_USEC: '30000000' }, bind });
  expect(notifier.watchdogIntervalMs).toBe(15_000);
  jest.advanceTimersByTime(60_000);
  expect(sent).toEqual([]); // nothing before READY
  notifier.ready();
  jest.advanceTimersByTime(45_000);
  expect(sent).toEqual(['READY=1', 'WATCHDOG=1', 'WATCHDOG=1', 'WATCHDOG=1']);
  notifier.stopping();
  jest.advanceTimersByTime(60_000);
  expect(sent.slice(4)).toEqual(['STOPPING=1']);
});

test('a second READY (after a reload) does not start a second ping timer', () => {
  jest.useFakeTimers();
  const { sent, bind } = recorder();
  const notifier = systemdNotifier({ env: { NOTIFY_SOCKET: '@notify', WATCHDOG_USEC: '2000000' }, bind });
  notifier.ready();
  notifier.ready();
  jest.advanceTimersByTime(1000);
  expect(sent.filter((s) => s === 'WATCHDOG=1')).toHaveLength(1);
  notifier.close();
});

test('watchdog interval: half of WATCHDOG_USEC, none when unset, invalid, or meant for another PID', () => {
  expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 7)).toBe(15_000);
  expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, 7)).toBe(15_000);
  expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '8' }, 7)).toBeUndefined();
  expect(watchdogIntervalMs({}, 7)).toBeUndefined();
  expect(watchdogIntervalMs({ WATCHDOG_USEC: '0' }, 7)).toBeUndefined();
  expect(watchdogIntervalMs({ WATCHDOG_USEC: 'soon' }, 7)).toBeUndefined();
  expect(watchdogIntervalMs({ WATCHDOG_USEC: '1' }, 7)).toBe(1);
});

test('libsystemd missing: one error, then a quiet no-op', () => {
  const errors: string[] = [];
  const notifier = systemdNotifier({ env: { NOTIFY_SOCKET: '@notify' }, bind: () => 'libsystemd.so.0 cannot be loaded: not found', onError: (m) => errors.push(m) });
  notifier.ready();
  notifier.stopping();
  expect(notifier.enabled).toBe(false);
  expect(errors).toEqual(['systemd notifications disabled: libsystemd.so.0 cannot be loaded: not found']);
});

test('a failing sd_notify is reported once with its errno, and sending goes on', () => {
  const errors: string[] = [];
  const { sent, bind } = recorder(-111);
  const notifier = systemdNotifier({ env: { NOTIFY_SOCKET: '/gone' }, bind, onError: (m) => errors.push(m) });
  notifier.ready('up');
  notifier.stopping();
  expect(sent).toHaveLength(2);
  expect(errors).toEqual(['sd_notify("READY=1") failed: errno 111']);
});
