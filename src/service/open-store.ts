// Opens the configured score store (LevelDB in the state directory, or memory) with its call timeout.
import type { ServiceConfig } from '../config/service-config';
import { LevelStore } from '../store/level-store';
import { MemoryStore } from '../store/memory-store';
import { withTimeout, type ScoreStore } from '../store/score-store';

export async function openStore(config: ServiceConfig): Promise<ScoreStore> {
  const store = config.storeBackend === 'memory' ? new MemoryStore() : await LevelStore.open(`${config.stateDir}/scores`);
  return withTimeout(store, config.storeTimeoutMs);
}
