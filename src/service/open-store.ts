// Opens the configured score store (LevelDB in the state directory, or memory) with its call timeout.
import type { ServiceConfig } from '../config/service-config';
import type { Logger } from '../log/logger';
import { LevelStore } from '../store/level-store';
import { MemoryStore } from '../store/memory-store';
import { withTimeout, type ScoreStore } from '../store/score-store';

/** Expired records are swept once a minute, so the database stays bounded by the live keys. */
const SWEEP_INTERVAL_MS = 60_000;

/** With a logger (the service), LevelDB also gets its background sweeper; the CLI opens it without. */
export async function openStore(config: ServiceConfig, logger?: Logger): Promise<ScoreStore> {
  if (config.storeBackend === 'memory') return withTimeout(new MemoryStore(), config.storeTimeoutMs);
  const store = await LevelStore.open(`${config.stateDir}/scores`);
  if (logger) {
    store.startSweeper({
      intervalMs: SWEEP_INTERVAL_MS,
      onSweep: (removed, elapsedMs) => {
        if (removed > 0) logger.info('expired scores swept', { removed, elapsed_ms: elapsedMs });
      },
      onError: (error) => logger.error('sweeping expired scores failed', { error: String((error as Error).message ?? error) }),
    });
  }
  return withTimeout(store, config.storeTimeoutMs);
}
