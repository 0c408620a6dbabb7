// `floodgate repair`: the way out the service names when it finds its LevelDB directory damaged.
import type { ServiceConfig } from '../config/service-config';
import { StoreError } from '../store/errors';
import { repairLevelDirectory } from '../store/level-repair';

export async function runRepair(config: ServiceConfig, out: NodeJS.WritableStream): Promise<void> {
  if (config.storeBackend !== 'level') {
    throw new StoreError(`score store: "floodgate repair" repairs the LevelDB store; this configuration uses store.backend: ${config.storeBackend}`);
  }
  const result = await repairLevelDirectory(`${config.stateDir}/scores`);
  out.write(`repaired ${result.directory}: ${result.records} scores kept\nthe damaged files are kept in ${result.copy} (remove it when no longer needed)\n`);
}
