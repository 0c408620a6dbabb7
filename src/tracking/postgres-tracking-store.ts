// The tracking log in PostgreSQL (node-postgres), shared by several MX hosts: migrations, batched inserts, find, prune.
//
// Nothing here waits for the server to come back: a call while it is down rejects with
// TrackingError (the writer counts the batch as dropped) and pg.Pool opens fresh connections for
// the next call, so writing resumes by itself once the server answers again. The schema is
// migrated before the first call that reaches the server, and tried again by the next call when
// that failed, so a service started while the database is down catches up later.
import { Pool, type PoolClient } from 'pg';
import { TrackingError, toTrackingError } from './errors';
import { findQuery } from './postgres-query';
import { INSERT_BATCH, recordFromRows, recordsJson, type PgRow } from './postgres-rows';
import { MIGRATIONS, MIGRATION_LOCK, SCHEMA_VERSION, VERSION_TABLE } from './postgres-schema';
import { checkFilter } from './tracking-filter';
import type { TrackingFilter, TrackingRecord, TrackingStore } from './tracking-record';

export interface PostgresTrackingOptions {
  /** postgresql://user:password@host:port/database (libpq's URL; ?host=/socket/dir for a unix socket). */
  url: string;
  /** For `floodgate track`: never migrates, writes or prunes; the tables must be at this version. */
  readOnly?: boolean;
  /** Connections kept open; one writer batch and one prune at a time need two. */
  poolSize?: number;
  connectTimeoutMs?: number;
  /** A query the server has not answered by then rejects (the connection is dropped), so a hung server holds nothing. */
  queryTimeoutMs?: number;
}

const OPEN = Buffer.from('[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']');

/** Records deleted per statement when pruning: short transactions, so batches written meanwhile never wait long. */
const PRUNE_CHUNK = 5000;

export class PostgresTrackingStore implements TrackingStore {
  /** The batch goes to node-postgres on the event loop, which copies it into its message: 500 records keep that copy short. */
  readonly batchSize = 500;
  private readonly pool: Pool;
  private readonly readOnly: boolean;
  /** The migration (or the version check) once it has succeeded; cleared after a failure so the next call tries again. */
  private schema: Promise<void> | undefined;
  private closed = false;

  constructor(options: PostgresTrackingOptions) {
    this.readOnly = options.readOnly ?? false;
    this.pool = new Pool({
      connectionString: options.url,
      max: options.poolSize ?? 2,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      query_timeout: options.queryTimeoutMs ?? 10_000,
      idleTimeoutMillis: 30_000,
      application_name: 'floodgate',
    });
    // An idle connection the server closed (a restart) is an 'error' on the pool; the pool has
    // already dropped it and the next call opens another. Unhandled, the event would end the process.
    this.pool.on('error', ignore);
  }

  async write(records: readonly TrackingRecord[]): Promise<void> {
    // Encoded before any SQL: a record no store could hold rejects with its RangeError, not as an outage.
    if (records.length > 0) return this.writeEncoded([this.encode(records)]);
  }

  /** The records as JSON array elements (postgres-rows.ts), a part of a batch. */
  encode(records: readonly TrackingRecord[]): Buffer {
    return Buffer.from(recordsJson(records));
  }

  async writeEncoded(parts: readonly Buffer[]): Promise<void> {
    const filled = parts.filter((part) => part.length > 0);
    if (filled.length === 0) return;
    // Bytes, not a string: node-postgres sends a Buffer as the parameter's binary form, which for
    // json is its UTF-8 text, so the batch is never decoded on the event loop only to be encoded again.
    const batch = Buffer.concat([OPEN, ...filled.flatMap((part, i) => (i === 0 ? [part] : [COMMA, part])), CLOSE]);
    // One statement is one transaction: the batch is written whole or not at all.
    await this.call('writing a batch', true, (client) => client.query(INSERT_BATCH, [batch]));
  }

  async find(filter: TrackingFilter): Promise<TrackingRecord[]> {
    const query = findQuery(checkFilter(filter));
    return this.call('finding records', false, async (client) => this.withRecipients(client, (await client.query<PgRow>(query)).rows));
  }

  async get(id: number): Promise<TrackingRecord | undefined> {
    if (!Number.isSafeInteger(id)) return undefined;
    return this.call('reading a record', false, async (client) => {
      const rows = (await client.query<PgRow>('SELECT * FROM tracking_records WHERE id = $1', [id])).rows;
      return (await this.withRecipients(client, rows))[0];
    });
  }

  /**
   * Deletes the records older than `before`, then the oldest while the live rows' data passes
   * `maxBytes`. PostgreSQL keeps the space of deleted rows for new ones (autovacuum) rather than
   * giving it back, so the cap counts the live rows (pg_column_size), not the files: counting
   * the files, which do not shrink, would delete more at every prune until nothing was left.
   */
  async prune(before: number, maxBytes?: number): Promise<number> {
    if (!Number.isFinite(before)) throw new RangeError(`tracking prune: before ${before} is not a time in ms`);
    return this.call('pruning', true, async (client) => {
      let removed = 0;
      let deleted: number;
      do {
        deleted = await deleteOldest(client, PRUNE_CHUNK, new Date(before));
        removed += deleted;
      } while (deleted === PRUNE_CHUNK);
      if (maxBytes !== undefined) {
        const { bytes, records } = await liveData(client);
        // The oldest records' share of the excess, at the average record's size.
        let excess = bytes > maxBytes ? Math.ceil(((bytes - maxBytes) / bytes) * records) : 0;
        while (excess > 0) {
          deleted = await deleteOldest(client, Math.min(PRUNE_CHUNK, excess));
          removed += deleted;
          excess = deleted === 0 ? 0 : excess - deleted;
        }
      }
      return removed;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private async withRecipients(client: PoolClient, rows: PgRow[]): Promise<TrackingRecord[]> {
    if (rows.length === 0) return [];
    const recipients = await client.query<PgRow>(
      'SELECT * FROM tracking_recipients WHERE record_id = ANY($1::bigint[]) ORDER BY record_id, position',
      [rows.map((r) => r.id)],
    );
    const byRecord = new Map<string, PgRow[]>();
    for (const r of recipients.rows) {
      const list = byRecord.get(String(r.record_id));
      if (list) list.push(r);
      else byRecord.set(String(r.record_id), [r]);
    }
    return rows.map((row) => recordFromRows(row, byRecord.get(String(row.id)) ?? []));
  }

  /** A pooled connection for `run`, the schema checked first; every failure as TrackingError. */
  private async call<T>(what: string, writes: boolean, run: (client: PoolClient) => Promise<T>): Promise<T> {
    if (this.closed) throw new TrackingError(`tracking log: ${what} failed: the PostgreSQL store is closed`);
    if (writes && this.readOnly) throw new TrackingError(`tracking log: ${what} failed: the PostgreSQL store is open read-only`);
    let client: PoolClient | undefined;
    let broken: Error | undefined;
    try {
      client = await this.pool.connect();
      // A checked-out connection the server cuts emits 'error' besides failing its query (which
      // reports it); unhandled, the event would end the process. Idle ones are the pool's to handle.
      client.on('error', ignore);
      await this.ensureSchema(client);
      return await run(client);
    } catch (error) {
      // A connection that failed mid-query may be half-way through a protocol exchange: never reuse it.
      broken = error instanceof Error ? error : new Error(String(error));
      throw toTrackingError(error, `${what} in PostgreSQL`);
    } finally {
      client?.off('error', ignore);
      client?.release(broken);
    }
  }

  private ensureSchema(client: PoolClient): Promise<void> {
    if (this.schema === undefined) {
      this.schema = this.readOnly ? checkVersion(client) : migrate(client);
      this.schema.catch(() => (this.schema = undefined));
    }
    return this.schema;
  }
}

function ignore(): void {}

/** Deletes up to `limit` of the oldest records (older than `before`, when given); their children go with them (ON DELETE CASCADE). */
async function deleteOldest(client: PoolClient, limit: number, before?: Date): Promise<number> {
  const result = await client.query(
    `DELETE FROM tracking_records WHERE id IN (SELECT id FROM tracking_records${before === undefined ? '' : ' WHERE time < $2'} ORDER BY time LIMIT $1)`,
    before === undefined ? [limit] : [limit, before],
  );
  return result.rowCount ?? 0;
}

/** The bytes of the live rows of the three tables (without indexes or free space), and the record count. */
async function liveData(client: PoolClient): Promise<{ bytes: number; records: number }> {
  const { rows } = await client.query<{ bytes: string | null; records: string }>(`
    SELECT (SELECT sum(pg_column_size(r.*)) FROM tracking_records r)
         + (SELECT coalesce(sum(pg_column_size(x.*)), 0) FROM tracking_recipients x)
         + (SELECT coalesce(sum(pg_column_size(u.*)), 0) FROM tracking_rules u) AS bytes,
           (SELECT count(*) FROM tracking_records) AS records`);
  return { bytes: Number(rows[0].bytes ?? 0), records: Number(rows[0].records) };
}

async function storedVersion(client: PoolClient): Promise<number | undefined> {
  const exists = await client.query("SELECT to_regclass('tracking_schema_version') IS NOT NULL AS present");
  if (!exists.rows[0].present) return undefined;
  return (await client.query<{ version: number }>('SELECT version FROM tracking_schema_version')).rows[0]?.version;
}

function tooNew(version: number): TrackingError {
  return new TrackingError(`tracking log: the PostgreSQL tables have schema version ${version}, newer than this Floodgate's ${SCHEMA_VERSION}: they were written by a later version`);
}

async function checkVersion(client: PoolClient): Promise<void> {
  const version = (await storedVersion(client)) ?? 0;
  if (version > SCHEMA_VERSION) throw tooNew(version);
  if (version < SCHEMA_VERSION) {
    throw new TrackingError(`tracking log: the PostgreSQL tables have schema version ${version}, older than this Floodgate's ${SCHEMA_VERSION}: the service creates or upgrades them when it first writes`);
  }
}

/** Every pending migration in one transaction, under the advisory lock that keeps two MX hosts from migrating at once. */
async function migrate(client: PoolClient): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(VERSION_TABLE);
    const version = (await storedVersion(client)) ?? 0;
    if (version > SCHEMA_VERSION) throw tooNew(version);
    for (let v = version; v < SCHEMA_VERSION; v++) await client.query(MIGRATIONS[v]);
    await client.query('UPDATE tracking_schema_version SET version = $1', [SCHEMA_VERSION]);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
