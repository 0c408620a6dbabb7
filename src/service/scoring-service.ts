// Assembles the product: store, rules, engine, alerts, admin socket and HTTP listener around the milter service.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import type { ServiceConfig } from '../config/service-config';
import type { Logger } from '../log/logger';
import { AdminServer } from '../admin/admin-server';
import type { ReloadResult } from '../admin/admin-protocol';
import { Alerter } from '../handler/alerter';
import { scoringHandler } from '../handler/scoring-handler';
import type { AnswerRecord, ScoringObserver } from '../handler/scoring-observer';
import { ScoringEngine } from '../engine/scoring-engine';
import { loadAssets } from '../http/assets';
import { HttpAuthenticator } from '../http/auth';
import { StatusServer } from '../http/status-server';
import { limitMallocArenas } from '../native/malloc';
import { Activity } from '../ops/activity';
import { MeasuredStore } from '../ops/measured-store';
import { HotKeys } from '../ops/hot-keys';
import { FloodgateMetrics } from '../ops/metrics';
import { Operations, type LoadedRules } from '../ops/operations';
import { loadRuleSet } from '../rules/loader';
import type { MilterHandler } from '../session/handler';
import { FloodgateService } from './service';
import { openStore } from './open-store';
import { ReputationLookupResources } from './reputation-resources';
import { openTrackingStore } from './open-tracking';
import { TrackingWriter } from '../tracking/tracking-writer';
import type { TrackingRecord, TrackingStore } from '../tracking/tracking-record';
import { CopyStore } from '../tracking/copy-store';

export interface ScoringServiceOptions {
  configFile: string | undefined;
  /** Rules used when the configuration names none (the shipped default). */
  defaultRulesFile: string;
  /** The status page's files (dist/web). */
  webDir: string;
  version: string;
  /** `floodgate run --observe`: mode observe whatever the configuration says. */
  observe?: boolean;
  logStream?: NodeJS.WritableStream;
}

export interface RunningFloodgate {
  service: FloodgateService;
  /** The HTTP listener's port, when it listens on TCP. */
  httpPort: number | undefined;
  stop(): Promise<void>;
}

/** glibc malloc arenas: two serve one event loop and a few store threads with the throughput of sixteen. */
const MALLOC_ARENAS = 2;

/** Starts everything; the store stays open across SIGHUP reloads, rules and alerts are rebuilt. */
export async function startFloodgate(options: ScoringServiceOptions): Promise<RunningFloodgate> {
  const startedAt = Date.now();
  let service: FloodgateService | undefined;
  let store: MeasuredStore | undefined;
  let alerter: Alerter | undefined;
  let admin: AdminServer | undefined;
  let http: StatusServer | undefined;
  let loaded: LoadedRules | undefined;
  let mode: 'enforce' | 'observe' = 'enforce';
  const activity = new Activity();
  const hotKeys = new HotKeys();
  let tracking: { store: TrackingStore; writer: TrackingWriter } | undefined;
  let copies: { store: CopyStore; pruning: NodeJS.Timeout } | undefined;
  const metrics = new FloodgateMetrics(
    { mtaConnections: () => service?.connectionCount ?? 0, delaying: () => service?.delayingCount ?? 0, trackingQueue: () => tracking?.writer.queued ?? 0 },
    options.version,
  );
  const lookups = new ReputationLookupResources(metrics.dns);
  const mtaTotals = { total: 0, refused: 0 };
  const observer: ScoringObserver = {
    ...metrics.scoring,
    answered(record: AnswerRecord) {
      metrics.scoring.answered(record);
      activity.answered(record);
    },
    keysScored: (scored, now) => hotKeys.scored(scored, now),
  };

  const handlerFor = async (config: ServiceConfig, logger: Logger): Promise<MilterHandler> => {
    if (!store) throw new Error('score store not open');
    // Throws ConfigError for a broken rules file, RecipientMapError for an unreadable map: at start
    // that stops the service, on SIGHUP the running rules stay (FloodgateService.reload).
    const rulesFile = config.rulesFile ?? options.defaultRulesFile;
    const ruleSet = loadRuleSet(rulesFile, { mtaTimeoutMs: config.mtaTimeoutMs, maxDelayMs: config.maxDelayMs });
    const reputation = await lookups.checksFor(ruleSet.reputation, config.dns, logger);
    for (const warning of ruleSet.warnings) logger.warn('rules warning', { warning });
    alerter?.close();
    alerter = ruleSet.alert ? new Alerter(ruleSet.alert, (error, alert) => logger.error('alert mail failed', { key: alert.key, error: error.message })) : undefined;
    mode = options.observe ? 'observe' : config.mode;
    loaded = { ruleSet, sha256: sha256Of(rulesFile), loadedAt: Date.now() };
    metrics.rulesLoaded(ruleSet.source, loaded.sha256, ruleSet.rules.length);
    logger.info('rules loaded', { rules: ruleSet.source, count: ruleSet.rules.length, events: [...ruleSet.events], mode });
    const writer = tracking?.writer;
    return scoringHandler({
      engine: new ScoringEngine(ruleSet, store),
      logger,
      onStoreError: config.onStoreError,
      alerter,
      reputation,
      observer,
      observeOnly: mode === 'observe',
      ...(writer ? { track: (record: TrackingRecord) => writer.add(record), trackSubjects: config.tracking.subject } : {}),
      ...(ruleSet.track.length > 0 ? { copies: (copies ??= startCopies(config, logger)).store } : {}),
    });
  };

  const reload = async (): Promise<ReloadResult> => {
    const outcome = await service!.reload();
    metrics.reloaded(outcome.reloaded);
    return outcome.reloaded ? { reloaded: true, rules: loaded!.ruleSet.rules.length, warnings: [...loaded!.ruleSet.warnings] } : outcome;
  };

  service = await FloodgateService.start({
    configFile: options.configFile,
    logStream: options.logStream,
    events: {
      connectionAccepted() {
        mtaTotals.total++;
        metrics.connectionAccepted();
        activity.sessionStarted();
      },
      connectionRefused() {
        mtaTotals.refused++;
        metrics.connectionRefused();
      },
      decision: (_ctx, stage, verdict, delayMs, answered) => metrics.replied(stage, verdict.kind, delayMs, answered),
      protocolError: (_conn, error) => metrics.protocolError(error),
      handlerError: (_ctx, stage) => metrics.handlerError(stage),
    },
    beforeListen: async (config, logger) => {
      mkdirSync(config.stateDir, { recursive: true, mode: 0o750 });
      // Before LevelDB's and libuv's threads start and each takes an arena of its own (src/native/malloc.ts).
      limitMallocArenas(MALLOC_ARENAS);
      tracking = await startTracking(config, logger, metrics);
      store = new MeasuredStore(await openStore(config, logger), config.storeBackend, metrics);
      // One scan at start, in the background, so that a restart in the middle of a flood still shows it.
      const seedAt = Date.now();
      void store.top(hotKeys.capacity, seedAt).then(
        (records) => hotKeys.seed(records, seedAt),
        (error: unknown) => logger.warn('could not read the hottest keys from the store at start', { error: String((error as Error).message ?? error) }),
      );
      const operations = new Operations({
        version: options.version,
        startedAt,
        mode: () => mode,
        rules: () => loaded!,
        store,
        hotKeys,
        activity,
        metrics,
        mta: () => ({ open: service?.connectionCount ?? 0, delaying: service?.delayingCount ?? 0 }),
        mtaTotals: () => ({ ...mtaTotals }),
        dns: () => lookups.dnsReports(),
        readyTimeoutMs: config.storeTimeoutMs,
        ...(tracking ? { tracking: tracking.store } : {}),
        onReset: (key, existed, by) => logger.info('score reset', { key, existed, by }),
      });
      admin = new AdminServer(config.adminSocket, store, {
        onReset: (key, existed) => logger.info('score reset', { key, existed, by: 'admin socket' }),
        status: () => operations.status(),
        reload,
      });
      await admin.listen();
      if (config.http.listen) {
        http = new StatusServer({ listen: config.http.listen, operations, auth: new HttpAuthenticator(config.http.auth), assets: loadAssets(options.webDir) });
        await http.listen();
        logger.info('http listening', { listen: config.http.listen.kind === 'unix' ? `unix:${config.http.listen.path}` : `${config.http.listen.host}:${http.port}`, auth: config.http.auth ? 'on' : 'off' });
      }
    },
    handlerFor,
  });
  const running = service;
  return {
    service: running,
    httpPort: http?.port,
    async stop() {
      await http?.close();
      await running.stop();
      alerter?.close();
      lookups.close();
      await admin?.close();
      await tracking?.writer.close();
      await tracking?.store.close();
      if (copies) clearInterval(copies.pruning);
      await store?.close();
      await running.finish();
    },
  };
}

/**
 * The tracking log and its writer, or undefined with tracking.backend: off. A SQLite file that cannot
 * be opened stops the start (FG_ERR_TRACKING); afterwards a failing database only costs records,
 * counted and logged once per change of state, never an answer to the MTA.
 */
async function startTracking(config: ServiceConfig, logger: Logger, metrics: FloodgateMetrics): Promise<{ store: TrackingStore; writer: TrackingWriter } | undefined> {
  const store = await openTrackingStore(config);
  if (!store) return undefined;
  const writer = new TrackingWriter(store, {
    keepMs: config.tracking.keepMs,
    ...(config.tracking.backend === 'sqlite' ? { maxBytes: config.tracking.maxBytes } : {}),
    onWritten: (count) => metrics.tracked(count),
    onDropped: (count, reason) => metrics.trackingLost(count, reason),
    onHealth: (error) =>
      error
        ? logger.error('tracking database failed, records are dropped until it answers (floodgate_tracking_records_dropped_total)', { backend: config.tracking.backend, error: error.message })
        : logger.warn('tracking database answers again', { backend: config.tracking.backend }),
    onPruned: (count) => {
      if (count > 0) logger.info('tracking records pruned', { removed: count });
    },
  });
  logger.info('tracking', { backend: config.tracking.backend, keep_days: Math.round((config.tracking.keepMs / 86_400_000) * 10) / 10 });
  void writer.prune();
  return { store, writer };
}

/** How often copies past their age or the total size are deleted (and once at start). */
const COPY_PRUNE_INTERVAL_MS = 10 * 60_000;

/**
 * The tracking copies' folder, created when the first rules with `track:` load. A copy that cannot
 * be written (disk full, permissions) is lost and mail goes on; logged once per change of state.
 */
function startCopies(config: ServiceConfig, logger: Logger): { store: CopyStore; pruning: NodeJS.Timeout } {
  let failing = false;
  const store = new CopyStore(config.tracking.copies, {
    failed(error) {
      if (!failing) logger.error('tracking copy failed, copies are lost until writing works again', { dir: config.tracking.copies.dir, error: error.message });
      failing = true;
    },
    saved(paths, bytes, truncated) {
      if (failing) logger.warn('tracking copies are written again', { dir: config.tracking.copies.dir });
      failing = false;
      logger.info('tracking copy saved', { paths, bytes, ...(truncated ? { truncated: true } : {}) });
    },
  });
  const prune = () =>
    void store.prune().then(
      (removed) => removed > 0 && logger.info('tracking copies pruned', { removed }),
      (error: Error) => logger.warn('tracking copies could not be pruned', { error: error.message }),
    );
  prune();
  const pruning = setInterval(prune, COPY_PRUNE_INTERVAL_MS);
  pruning.unref();
  return { store, pruning };
}

function sha256Of(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}
