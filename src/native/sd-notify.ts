// systemd's sd_notify(3) through libsystemd (Type=notify): READY=1, WATCHDOG=1 pings, STOPPING=1.
//
// Node cannot send a datagram on a unix socket, so the notification protocol goes through
// libsystemd.so.0, bound by koffi. Outside systemd (NOTIFY_SOCKET unset) nothing is loaded or sent.
import { loadLibrary } from './libc';

/** Sends one notification; returns sd_notify's result: > 0 sent, 0 no socket, < 0 a negated errno. */
export type SendNotification = (state: string) => number;

export interface SystemdNotifier {
  /** False outside systemd (NOTIFY_SOCKET unset) or when libsystemd cannot be bound. */
  readonly enabled: boolean;
  /** Milliseconds between watchdog pings (half of WATCHDOG_USEC); undefined when none were asked for. */
  readonly watchdogIntervalMs: number | undefined;
  /** READY=1 (with a STATUS= line); starts the watchdog pings. Call once the milter socket accepts. */
  ready(status?: string): void;
  /** RELOADING=1, before re-reading the configuration; follow it with ready(). */
  reloading(): void;
  /** STOPPING=1 at the start of a shutdown; stops the watchdog pings. */
  stopping(): void;
  /** Stops the watchdog pings (idempotent). */
  close(): void;
}

export interface NotifierOptions {
  /** Where NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  pid?: number;
  /** Binds the sender, or says why it cannot (default: libsystemd's sd_notify through koffi). */
  bind?: () => SendNotification | string;
  /** Told, once each, when libsystemd cannot be bound or a notification fails. */
  onError?: (message: string) => void;
}

const DISABLED: SystemdNotifier = {
  enabled: false,
  watchdogIntervalMs: undefined,
  ready: () => undefined,
  reloading: () => undefined,
  stopping: () => undefined,
  close: () => undefined,
};

let libsystemdSend: SendNotification | string | undefined;

/** libsystemd's sd_notify, bound once per process; a string says why it is unavailable. */
export function bindSdNotify(): SendNotification | string {
  libsystemdSend ??= bind();
  return libsystemdSend;
}

function bind(): SendNotification | string {
  const binding = loadLibrary('libsystemd.so.0');
  if (!binding.available) return binding.reason;
  try {
    const sdNotify = binding.lib.func('int sd_notify(int unset_environment, const char *state)');
    // unset_environment 0: NOTIFY_SOCKET stays set for the pings and STOPPING=1 that follow.
    return (state) => sdNotify(0, state) as number;
  } catch (error) {
    return `sd_notify cannot be bound: ${(error as Error).message}`;
  }
}

/**
 * The watchdog interval systemd asked for: half of WATCHDOG_USEC (systemd's own advice), unless
 * WATCHDOG_PID names another process (the variables were inherited, not meant for us).
 */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isSafeInteger(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID !== undefined && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

/** A notifier for this process; a no-op one outside systemd or without libsystemd. */
export function systemdNotifier(options: NotifierOptions = {}): SystemdNotifier {
  const env = options.env ?? process.env;
  if (!env.NOTIFY_SOCKET) return DISABLED;
  const send = (options.bind ?? bindSdNotify)();
  if (typeof send === 'string') {
    options.onError?.(`systemd notifications disabled: ${send}`);
    return DISABLED;
  }
  const intervalMs = watchdogIntervalMs(env, options.pid ?? process.pid);
  let failureReported = false;
  let timer: NodeJS.Timeout | undefined;
  const notify = (state: string): void => {
    const result = send(state);
    if (result < 0 && !failureReported) {
      failureReported = true;
      options.onError?.(`sd_notify("${state.split('\n')[0]}") failed: errno ${-result}`);
    }
  };
  const close = (): void => {
    if (timer) clearInterval(timer);
    timer = undefined;
  };
  return {
    enabled: true,
    watchdogIntervalMs: intervalMs,
    ready(status) {
      notify(status ? `READY=1\nSTATUS=${status}` : 'READY=1');
      // The ping runs on the event loop: a loop blocked past WatchdogSec stops it, and systemd
      // restarts the service. unref: the pings alone never keep the process alive.
      if (intervalMs !== undefined && !timer) timer = setInterval(() => notify('WATCHDOG=1'), intervalMs).unref();
    },
    reloading: () => notify('RELOADING=1'),
    stopping() {
      close();
      notify('STOPPING=1');
    },
    close,
  };
}
