// Opens the configured tracking log: SQLite under state_dir (the default), PostgreSQL, or none.
import type { ServiceConfig } from '../config/service-config';
import { PostgresTrackingStore } from '../tracking/postgres-tracking-store';
import { SqliteTrackingStore } from '../tracking/sqlite-tracking-store';
import type { TrackingStore } from '../tracking/tracking-record';

/**
 * `readOnly`: for `floodgate track` beside the running service (SQLite lets readers in beside its
 * one writer; PostgreSQL serves any number). A PostgreSQL server that is down is not an error here:
 * the writer counts what it cannot write and goes on when the server is back.
 */
export async function openTrackingStore(config: ServiceConfig, readOnly = false): Promise<TrackingStore | undefined> {
  const tracking = config.tracking;
  if (tracking.backend === 'off') return undefined;
  if (tracking.backend === 'postgres') return new PostgresTrackingStore({ url: tracking.url!, readOnly });
  return SqliteTrackingStore.open(config.stateDir, { readOnly });
}
