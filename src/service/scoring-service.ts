// Assembles the product: store, rules, engine, alerts and admin socket around the milter service.
import { mkdirSync } from 'node:fs';
import type { ServiceConfig } from '../config/service-config';
import type { Logger } from '../log/logger';
import { AdminServer } from '../admin/admin-server';
import { Alerter } from '../handler/alerter';
import { scoringHandler } from '../handler/scoring-handler';
import { ScoringEngine } from '../engine/scoring-engine';
import { limitMallocArenas } from '../native/malloc';
import { loadRuleSet } from '../rules/loader';
import type { MilterHandler } from '../session/handler';
import type { ScoreStore } from '../store/score-store';
import { FloodgateService } from './service';
import { openStore } from './open-store';
import { ReputationLookupResources } from './reputation-resources';

export interface ScoringServiceOptions {
  configFile: string | undefined;
  /** Rules used when the configuration names none (the shipped default). */
  defaultRulesFile: string;
  logStream?: NodeJS.WritableStream;
}

export interface RunningFloodgate {
  service: FloodgateService;
  stop(): Promise<void>;
}

/** glibc malloc arenas: two serve one event loop and a few store threads with the throughput of sixteen. */
const MALLOC_ARENAS = 2;

/** Starts everything; the store stays open across SIGHUP reloads, rules and alerts are rebuilt. */
export async function startFloodgate(options: ScoringServiceOptions): Promise<RunningFloodgate> {
  let store: ScoreStore | undefined;
  let alerter: Alerter | undefined;
  let admin: AdminServer | undefined;
  const lookups = new ReputationLookupResources();

  const handlerFor = async (config: ServiceConfig, logger: Logger): Promise<MilterHandler> => {
    if (!store) throw new Error('score store not open');
    // Throws ConfigError for a broken rules file, RecipientMapError for an unreadable map: at start
    // that stops the service, on SIGHUP the running rules stay (FloodgateService.reload).
    const ruleSet = loadRuleSet(config.rulesFile ?? options.defaultRulesFile, { mtaTimeoutMs: config.mtaTimeoutMs, maxDelayMs: config.maxDelayMs });
    const reputation = await lookups.checksFor(ruleSet.reputation, config.dns, logger);
    for (const warning of ruleSet.warnings) logger.warn('rules warning', { warning });
    alerter?.close();
    alerter = ruleSet.alert ? new Alerter(ruleSet.alert, (error, alert) => logger.error('alert mail failed', { key: alert.key, error: error.message })) : undefined;
    logger.info('rules loaded', { rules: ruleSet.source, count: ruleSet.rules.length, events: [...ruleSet.events] });
    return scoringHandler({ engine: new ScoringEngine(ruleSet, store), logger, onStoreError: config.onStoreError, alerter, reputation, observeOnly: config.mode === 'observe' });
  };

  const service = await FloodgateService.start({
    configFile: options.configFile,
    logStream: options.logStream,
    beforeListen: async (config, logger) => {
      mkdirSync(config.stateDir, { recursive: true, mode: 0o750 });
      // Before LevelDB's and libuv's threads start and each takes an arena of its own (src/native/malloc.ts).
      limitMallocArenas(MALLOC_ARENAS);
      store = await openStore(config, logger);
      admin = new AdminServer(config.adminSocket, store, (key, existed) => logger.info('score reset', { key, existed }));
      await admin.listen();
    },
    handlerFor,
  });
  return {
    service,
    async stop() {
      await service.stop();
      alerter?.close();
      lookups.close();
      await admin?.close();
      await store?.close();
      await service.finish();
    },
  };
}
