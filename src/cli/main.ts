#!/usr/bin/env -S node --max-semi-space-size=8 --heap-growing-percent=20
// The `floodgate` command: parses arguments and dispatches to a subcommand; exit codes follow sysexits.h.
//
// The V8 flags above bound resident memory under mail load (README, Benchmarks). --max-semi-space-size
// caps each young-generation semi-space at 8 MiB: V8 otherwise grows them to 16 MiB each, ~30 MiB more
// for no speed the benchmarks can measure. --heap-growing-percent=20 lets the old generation grow only
// 20 % past what the last full GC left live: by default V8 let it reach about twice that (67 MiB of
// heap for ~35 MiB live after 20 s of load), garbage held as resident memory; the more frequent full
// GCs cost no throughput the benchmarks could see. Every launcher passes the same flags: package.json's
// start script, packaging/debian/bin/floodgate, and the benchmarks, which read them from this line.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { DURATION_PATTERN, durationMs } from '../config/duration';
import { loadServiceConfig, type ServiceConfig } from '../config/service-config';
import { FloodgateError } from '../errors';
import { systemdNotifier } from '../native/sd-notify';
import { loadRuleSet } from '../rules/loader';
import { createLogger } from '../log/logger';
import { ReputationLookupResources } from '../service/reputation-resources';
import { startFloodgate, type RunningFloodgate } from '../service/scoring-service';
import { adminRequest, AdminUnavailableError } from '../admin/admin-client';
import type { ReloadResult } from '../admin/admin-protocol';
import { checkRules } from './check-rules';
import { hashPasswordCommand } from './password-prompt';
import { fetchStatus, renderStatus } from './status';
import { renderRecord, renderRecords, TRACK_USAGE } from './track';
import { openTrackingStore } from '../service/open-tracking';
import { pointInTime, trackFilter, type TrackOptions } from '../tracking/track-query';
import { REPLAY_USAGE, replayMailLogCommand, replayTrackingCommand, type ReplayRequest } from './replay';
import { runRepair } from './repair';
import { runScores, scoresRequest, SCORES_USAGE } from './scores';
import { simulate } from './simulate';

/**
 * The directory of Floodgate's package.json: two up from dist/cli, found by walking up so that a
 * build elsewhere (the benchmarks compile to bench/results/tmp) finds the shipped files too.
 */
function packageRoot(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'floodgate') return dir;
  }
  return join(__dirname, '..', '..');
}

const PACKAGE_ROOT = packageRoot();
const SHIPPED_RULES = join(PACKAGE_ROOT, 'rules', 'default.yml');
/** The status page's files, built beside the compiled code (scripts/build-web.js). */
const WEB_DIR = join(__dirname, '..', 'web');

export const EXIT = { OK: 0, FAILURE: 1, WARNINGS: 2, USAGE: 64, DAMAGED: 65, NO_INPUT: 66, UNAVAILABLE: 69, CONFIG: 78 } as const;

const HELP = `Usage: floodgate <command> [options]

Commands:
  run [--observe]                  start the milter service (--observe: log and count every
                                   answer as what Floodgate would do, give none)
  status [--json]                  the running service: rules, MTA connections, sessions and
                                   answers in the last 1/5/15 minutes, top keys, store and DNS
  reload                           make the running service re-read its configuration and rules
  check-rules [FILE] [--strict]    validate a rules file (default: the configured one)
  scores top [--class C] [-n N]    highest scores (C: ip, network, sender, ip+sender, ...)
  scores show KEY                  one key's score, e.g. ip:192.0.2.7
  scores reset KEY                 forget a key's score (the client is let through at once)
  repair                           recover a damaged LevelDB store (service stopped): keeps a
                                   copy of the damaged files beside it, then recovers what it can
  simulate --ip IP [--helo H] [--from ADDR] [--rcpt ADDR]... [--count N] [--interval 1s] [--rules FILE]
                                   dry-run sessions against the rules and print every decision
  track [--from A] [--to A] [--ip IP|CIDR] [--queue-id ID] [--answer A] [--rule R]
        [--since 1d] [--until T] [--limit 50] [--json]
                                   the tracking log, newest first (works while the service runs)
  track show ID                    one tracking record in full
  replay --maillog FILE... [--rules FILE] [--since T] [--until T] [--json] [--html FILE] [--dns]
                                   what the rules would have answered to the mail in Postfix's or
                                   Sendmail's log (plain, rotated, .gz, journalctl -o json)
  replay --tracking [--since 7d] [--rules FILE] ...
                                   the same for the tracking log, with every answer that changes
  hash-password                    read a password (stdin) and print its hash for http.auth.users
  version                          print the version
  help                             show this help

Options (every command):
  -c, --config FILE   configuration file (default: $FLOODGATE_CONFIG, then the shipped
                      ${join(PACKAGE_ROOT, 'config', 'floodgate.yml')})
  -h, --help          show this help
  -V, --version       print the version

Signals (run): SIGHUP reloads configuration and rules, SIGTERM/SIGINT drain and stop.
Exit codes: 0 ok, 1 runtime failure, 2 warnings (check-rules --strict), 64 usage error,
65 LevelDB store damaged (run "floodgate repair"), 66 a log file to replay cannot be read,
69 service or store unavailable, 78 configuration or rules error.
`;

const GLOBAL_OPTIONS = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const;

/** Each command's own options: any other is a usage error (exit 64), as `floodgate run --ip x` must be. */
const COMMAND_OPTIONS = {
  run: { observe: { type: 'boolean' } },
  status: { json: { type: 'boolean' } },
  reload: {},
  repair: {},
  'check-rules': { strict: { type: 'boolean' } },
  scores: { class: { type: 'string' }, n: { type: 'string', short: 'n' } },
  simulate: {
    ip: { type: 'string' },
    hostname: { type: 'string' },
    helo: { type: 'string' },
    from: { type: 'string' },
    rcpt: { type: 'string', multiple: true },
    auth: { type: 'string' },
    size: { type: 'string' },
    count: { type: 'string' },
    interval: { type: 'string' },
    rules: { type: 'string' },
  },
  track: {
    from: { type: 'string' },
    to: { type: 'string' },
    ip: { type: 'string' },
    'queue-id': { type: 'string' },
    answer: { type: 'string' },
    rule: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
  },
  replay: {
    maillog: { type: 'string', multiple: true },
    tracking: { type: 'boolean' },
    rules: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    json: { type: 'boolean' },
    html: { type: 'string' },
    dns: { type: 'boolean' },
  },
  'hash-password': {},
  version: {},
  help: {},
} as const;

type Command = keyof typeof COMMAND_OPTIONS;
type SimulateValues = { [K in keyof (typeof COMMAND_OPTIONS)['simulate']]?: unknown };

/** The command word: the first argument that is neither an option nor the value of -c/--config. */
function commandOf(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-c' || arg === '--config') i++;
    else if (arg === '--') return argv[i + 1];
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

export async function main(argv: string[]): Promise<number> {
  const word = commandOf(argv);
  if (word !== undefined && !(word in COMMAND_OPTIONS)) return usage(`unknown command ${JSON.stringify(word)}`);
  const command = word as Command | undefined;
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { ...GLOBAL_OPTIONS, ...(command ? COMMAND_OPTIONS[command] : {}) } });
  } catch (error) {
    return usage(`${(error as Error).message}${command ? ` (floodgate ${command})` : ''}`);
  }
  const values = parsed.values as Record<string, unknown> & { config?: string; help?: boolean; version?: boolean };
  const rest = parsed.positionals.slice(1);
  if (values.version || command === 'version') {
    process.stdout.write(`floodgate ${packageVersion()}\n`);
    return EXIT.OK;
  }
  if (values.help || command === 'help') {
    process.stdout.write(HELP);
    return EXIT.OK;
  }
  const configFile = values.config ?? (process.env.FLOODGATE_CONFIG || undefined) ?? shippedConfig();
  const noArguments = (name: string) => (rest.length > 0 ? usage(`floodgate ${name} takes no arguments, got ${rest.join(' ')}`) : undefined);
  try {
    switch (command) {
      case 'run':
        return noArguments('run') ?? (await run(configFile, values.observe === true));
      case 'status':
        return noArguments('status') ?? (await runStatus(loadServiceConfig(configFile), values.json === true));
      case 'reload':
        return noArguments('reload') ?? (await runReload(loadServiceConfig(configFile)));
      case 'track':
        return await runTrack(loadServiceConfig(configFile), rest, values);
      case 'hash-password':
        return noArguments('hash-password') ?? ((await hashPasswordCommand(process.stdin, process.stdout, process.stderr)) ? EXIT.OK : usage('no password given'));
      case 'check-rules': {
        if (rest.length > 1) return usage('check-rules takes one file');
        const config = loadServiceConfig(configFile);
        const file = rest[0] ?? config.rulesFile ?? SHIPPED_RULES;
        return checkRules(file, process.stdout, process.stderr, { mtaTimeoutMs: config.mtaTimeoutMs, maxDelayMs: config.maxDelayMs, strict: values.strict === true });
      }
      case 'scores': {
        const request = scoresRequest(rest, { class: values.class as string | undefined, n: values.n as string | undefined });
        if (!request) return usage(SCORES_USAGE);
        const response = await runScores(loadServiceConfig(configFile), request, process.stdout);
        if (response.ok) return EXIT.OK;
        process.stderr.write(`floodgate: ${response.error}\n`);
        return EXIT.FAILURE;
      }
      case 'replay':
        return await runReplay(loadServiceConfig(configFile), rest, values);
      case 'repair':
        return noArguments('repair') ?? (await runRepair(loadServiceConfig(configFile), process.stdout), EXIT.OK);
      case 'simulate':
        return noArguments('simulate') ?? (await runSimulate(loadServiceConfig(configFile), values as SimulateValues));
      default:
        return usage();
    }
  } catch (error) {
    process.stderr.write(`floodgate: ${(error as Error).message}\n`);
    if (error instanceof AdminUnavailableError) return EXIT.UNAVAILABLE;
    const code = (error as FloodgateError).code;
    // A recipient map the rules name but that cannot be loaded is a configuration error too.
    if (code === 'FG_ERR_REPLAY_INPUT') return EXIT.NO_INPUT;
    if (code === 'FG_ERR_CONFIG' || code === 'FG_ERR_RECIPIENT_MAP') return EXIT.CONFIG;
    // 65 (EX_DATAERR), not 69: the unit's RestartPreventExitStatus= keeps systemd from restarting into the same damage.
    if (code === 'FG_ERR_STORE_DAMAGED') return EXIT.DAMAGED;
    return code === 'FG_ERR_STORE_UNAVAILABLE' || code === 'FG_ERR_TRACKING' ? EXIT.UNAVAILABLE : EXIT.FAILURE;
  }
}

/** `track [filters]` or `track show ID`, reading the tracking log directly (read-only). */
async function runTrack(config: ServiceConfig, rest: string[], values: Record<string, unknown>): Promise<number> {
  const show = rest[0] === 'show';
  if ((show && (rest.length !== 2 || !/^[0-9]{1,15}$/.test(rest[1]!))) || (!show && rest.length > 0)) return usage(TRACK_USAGE);
  const filter = show ? undefined : trackFilter(values as TrackOptions, Date.now());
  if (typeof filter === 'string') return usage(filter);
  const store = await openTrackingStore(config, true);
  if (!store) {
    process.stderr.write('floodgate: tracking is off (tracking.backend: off)\n');
    return EXIT.UNAVAILABLE;
  }
  try {
    if (show) {
      const record = await store.get(Number(rest[1]));
      if (!record) {
        process.stderr.write(`floodgate: no tracking record ${rest[1]}\n`);
        return EXIT.FAILURE;
      }
      process.stdout.write(values.json === true ? `${JSON.stringify(record, null, 2)}\n` : renderRecord(record));
      return EXIT.OK;
    }
    const records = await store.find(filter!);
    process.stdout.write(values.json === true ? `${JSON.stringify(records)}\n` : renderRecords(records));
    return EXIT.OK;
  } finally {
    await store.close();
  }
}

/**
 * `replay --maillog A B...` (files after the first --maillog are positionals, so a shell glob works)
 * or `replay --tracking`. Unreadable lines are counted in the report; an unreadable file is an error.
 */
async function runReplay(config: ServiceConfig, rest: string[], values: Record<string, unknown>): Promise<number> {
  const files = [...((values.maillog as string[] | undefined) ?? []), ...rest];
  const tracking = values.tracking === true;
  if (tracking === (values.maillog !== undefined)) return usage(`replay needs --maillog FILE... or --tracking\n${REPLAY_USAGE}`);
  if (tracking && rest.length > 0) return usage(`replay --tracking takes no files, got ${rest.join(' ')}`);
  const now = Date.now();
  const since = values.since === undefined ? undefined : pointInTime(values.since as string, now);
  const until = values.until === undefined ? undefined : pointInTime(values.until as string, now);
  if (Number.isNaN(since) || Number.isNaN(until)) return usage('--since and --until take a duration back from now (90m, 7d) or a date and time (2026-12-05T14:02)');
  const ruleSet = loadRuleSet((values.rules as string | undefined) ?? config.rulesFile ?? SHIPPED_RULES, { mtaTimeoutMs: config.mtaTimeoutMs, maxDelayMs: config.maxDelayMs });
  const request: ReplayRequest = { ruleSet, since, until, json: values.json === true, ...(typeof values.html === 'string' ? { html: values.html } : {}) };
  // Without --dns, DNS-list and reverse-DNS facts are unknown: the log does not hold them.
  const resources = new ReputationLookupResources();
  try {
    if (values.dns === true) {
      const reputation = await resources.checksFor(ruleSet.reputation, config.dns, createLogger('warn', 'text'));
      if (!reputation.idle) request.enrich = (ctx, facts) => reputation.enrich(ctx, facts);
    }
    if (!tracking) {
      await replayMailLogCommand(files, request, process.stdout);
      return EXIT.OK;
    }
    const store = await openTrackingStore(config, true);
    if (!store) {
      process.stderr.write('floodgate: tracking is off (tracking.backend: off)\n');
      return EXIT.UNAVAILABLE;
    }
    try {
      await replayTrackingCommand(store, request, process.stdout);
    } finally {
      await store.close();
    }
    return EXIT.OK;
  } finally {
    resources.close();
  }
}

async function runStatus(config: ServiceConfig, json: boolean): Promise<number> {
  const status = await fetchStatus(config.adminSocket);
  process.stdout.write(json ? `${JSON.stringify(status, null, 2)}\n` : renderStatus(status));
  return EXIT.OK;
}

/** Exit 0 with the new rule count, or 78 with the error (file:line:column) when the running rules stay. */
async function runReload(config: ServiceConfig): Promise<number> {
  const response = await adminRequest(config.adminSocket, { op: 'reload' }, 60_000);
  if (!response.ok) throw new Error(response.error);
  const result = response.result as ReloadResult;
  if (!result.reloaded) {
    process.stderr.write(`floodgate: reload failed, the running configuration stays:\n${result.error}\n`);
    return EXIT.CONFIG;
  }
  process.stdout.write(`reloaded: ${result.rules} rules${result.warnings.length > 0 ? `, ${result.warnings.length} warnings` : ''}\n`);
  for (const warning of result.warnings) process.stdout.write(`warning: ${warning}\n`);
  return EXIT.OK;
}

async function run(configFile: string | undefined, observe: boolean): Promise<number> {
  // LevelDB and SQLite create their files and directories with modes from the umask: started from
  // a shell with umask 000, the scores would be world-writable (issue 19). Others never get write;
  // the sockets get their documented modes by chmod whatever the umask.
  process.umask(process.umask() | 0o022);
  // Handlers first: a SIGHUP or SIGTERM that arrives while the service starts (a tester or
  // systemd reacting to the "listening" line) must not kill the process with Node's default action.
  let running: RunningFloodgate | undefined;
  let reloadPending = false;
  let stopRequested = false;
  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  let systemd: ReturnType<typeof systemdNotifier> | undefined;
  const status = () => `listening on ${running?.service.listen}`;
  const reload = () => {
    if (!running || !systemd) return void (reloadPending = true);
    const notify = systemd;
    notify.reloading();
    void running.service.reload().then(() => notify.ready(status()));
  };
  let stopping = false;
  const stop = () => {
    if (!running || !systemd) return void (stopRequested = true);
    if (stopping) return;
    stopping = true;
    systemd.stopping();
    void running.stop().then(() => finish(EXIT.OK));
  };
  process.on('SIGHUP', reload);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  running = await startFloodgate({ configFile, defaultRulesFile: SHIPPED_RULES, webDir: WEB_DIR, version: packageVersion(), observe });
  const log = running.service.log;
  // Under systemd (Type=notify): READY=1 once the milter socket accepts, watchdog pings from the
  // event loop, RELOADING=1/READY=1 around a reload, STOPPING=1 on shutdown. No-op without NOTIFY_SOCKET.
  systemd = systemdNotifier({ onError: (message) => log.error(message) });
  systemd.ready(status());
  if (systemd.watchdogIntervalMs !== undefined) log.info('systemd watchdog', { ping_ms: systemd.watchdogIntervalMs });
  if (stopRequested) stop();
  else if (reloadPending) reload();
  return finished;
}

async function runSimulate(config: ServiceConfig, values: SimulateValues): Promise<number> {
  const ip = values.ip as string | undefined;
  if (!ip) return usage('simulate needs --ip');
  const count = values.count === undefined ? 1 : Number(values.count);
  const intervalMs = values.interval === undefined ? 1000 : parseDurationArg(values.interval as string);
  if (!Number.isInteger(count) || count < 1 || !(intervalMs >= 0)) return usage('--count must be a positive integer and --interval a duration');
  const ruleSet = loadRuleSet((values.rules as string | undefined) ?? config.rulesFile ?? SHIPPED_RULES, { mtaTimeoutMs: config.mtaTimeoutMs, maxDelayMs: config.maxDelayMs });
  const session = {
    ip,
    hostname: values.hostname as string | undefined,
    helo: values.helo as string | undefined,
    from: values.from as string | undefined,
    rcpts: (values.rcpt as string[] | undefined) ?? [],
    authUser: values.auth as string | undefined,
    size: values.size === undefined ? undefined : Number(values.size),
  };
  // The service's resolver settings and recipient map, so simulate sees what the service would.
  const resources = new ReputationLookupResources();
  try {
    const reputation = await resources.checksFor(ruleSet.reputation, config.dns, createLogger('warn', 'text'));
    await simulate(ruleSet, session, count, intervalMs, process.stdout, reputation.idle ? undefined : reputation);
  } finally {
    resources.close();
  }
  return EXIT.OK;
}

/** `--interval 5` (seconds) or `--interval 500ms`; NaN when neither. */
function parseDurationArg(text: string): number {
  if (/^[0-9]+(\.[0-9]+)?$/.test(text)) return durationMs(Number(text));
  return new RegExp(DURATION_PATTERN).test(text) ? durationMs(text) : NaN;
}

function usage(message?: string): number {
  process.stderr.write(`${message ? `floodgate: ${message}\n` : ''}${HELP}`);
  return EXIT.USAGE;
}

function shippedConfig(): string | undefined {
  const file = join(PACKAGE_ROOT, 'config', 'floodgate.yml');
  return existsSync(file) ? file : undefined;
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
