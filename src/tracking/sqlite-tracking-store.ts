// The tracking log in one SQLite file under the state directory (libsql): WAL, migrations, find, prune to an age and a size.
//
// One writer (the service) and any number of readers (`floodgate track`, opened read-only in other
// processes): WAL lets them read while it writes. synchronous=NORMAL: a committed batch survives the
// process being killed (it is in the WAL, which the next open replays); a power cut may lose the
// last batches since the previous checkpoint, never the file's consistency. For a log, cheaper
// commits are worth that.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { TrackingError, toTrackingError } from './errors';
import { LibsqlConnection } from './libsql-connection';
import { batchPart, INSERT_BY_RECIPIENT, INSERT_BY_RULE, INSERT_RECORD } from './sqlite-batch';
import { findQuery } from './sqlite-query';
import { recordFromRow } from './sqlite-rows';
import { MIGRATIONS, SCHEMA_VERSION } from './sqlite-schema';
import { checkFilter } from './tracking-filter';
import type { TrackingFilter, TrackingRecord, TrackingStore } from './tracking-record';

export const TRACKING_FILE = 'tracking.sqlite';

export interface SqliteTrackingOptions {
  /** For readers beside the service: no write, prune or migration; the file must exist at the current schema. */
  readOnly?: boolean;
  /** How long a statement waits for a lock another process holds (a migration, a checkpoint), on libsql's thread. */
  busyTimeoutMs?: number;
}

/**
 * The writer's settings, measured with a million records (bench/tracking/sqlite-bindings.ts): each
 * record lands at random places in four indexes (client IP, sender, queue id, recipient), so a
 * batch of 100 dirties ~500 pages. With SQLite's default 2 MiB cache a batch spilled its own pages
 * mid-transaction, and checkpointing every 1,000 pages (4 MiB) wrote and fsynced the same index
 * pages over and over: ~3,000 records/s. A 64 MiB cache and a checkpoint every 20,000 pages
 * (80 MiB of WAL, cut back to 128 MiB at most afterwards) write each hot page once per checkpoint.
 */
export const WRITER_PRAGMAS = 'PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536; ' +
  'PRAGMA wal_autocheckpoint = 20000; PRAGMA journal_size_limit = 134217728;';

/**
 * The keys of the records in temp.doomed, found from each record's detail. The CASTs are what lets
 * SQLite look each key up by its whole primary key: a JSON value has no type affinity, and without
 * one it used only the address, reading every key of a much-mailed address once per doomed record.
 */
export const DELETE_DOOMED_KEYS = [
  `DELETE FROM by_recipient WHERE (address, time, record_id) IN (SELECT CAST(r.value->>'address' AS TEXT), records.time, records.id
     FROM temp.doomed JOIN records USING (id), json_each(records.detail, '$.recipients') r)`,
  `DELETE FROM by_rule WHERE (rule, time, record_id) IN (SELECT CAST(r.value AS TEXT), records.time, records.id
     FROM temp.doomed JOIN records USING (id), json_each(records.detail, '$.rules') r)`,
];

/** Records deleted per transaction when pruning: each is short, so the writer's next batch never waits long. */
const PRUNE_CHUNK = 5000;

export class SqliteTrackingStore implements TrackingStore {
  /**
   * Measured (bench/tracking/tracking-overhead.ts): a transaction of 2,000 records instead of 500
   * writes each index page it dirties once for four times the records, ~20 % less of the database
   * thread's CPU a record (sessions/s with tracking on +3 to +6 %); 5,000 saved nothing more. The
   * flush costs the event loop only the parts' concatenation: the thread parses them.
   */
  readonly batchSize = 2000;
  /** Every call on the connection, one after another: a batch's BEGIN..COMMIT must not interleave with a prune's. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private db: LibsqlConnection,
    readonly path: string,
    private readonly readOnly: boolean,
    private readonly busyTimeoutMs: number,
  ) {}

  /** Opens `dir`/tracking.sqlite, creating the directory and the file and migrating the schema unless read-only. */
  static async open(dir: string, options: SqliteTrackingOptions = {}): Promise<SqliteTrackingStore> {
    const path = join(dir, TRACKING_FILE);
    const readOnly = options.readOnly ?? false;
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    try {
      if (!readOnly) mkdirSync(dir, { recursive: true });
      const db = await connect(path, readOnly, busyTimeoutMs, (c) => (readOnly ? checkVersion(c, path) : migrate(c, path)));
      return new SqliteTrackingStore(db, path, readOnly, busyTimeoutMs);
    } catch (error) {
      throw toTrackingError(error, `opening ${path}${readOnly ? ' (read-only: does it exist?)' : ''}`);
    }
  }

  async write(records: readonly TrackingRecord[]): Promise<void> {
    // Encoded before it is queued: a record no store could hold rejects with its RangeError, not as an outage.
    if (records.length > 0) return this.writeEncoded([this.encode(records)]);
  }

  /** The records as UTF-8 text (sqlite-batch.ts), a part of what crosses to the database's thread. */
  encode(records: readonly TrackingRecord[]): Buffer {
    return Buffer.from(batchPart(records));
  }

  async writeEncoded(parts: readonly Buffer[]): Promise<void> {
    // Each part is whole lines: the batch is the parts one after another.
    const batch = Buffer.concat(parts);
    if (batch.length === 0) return;
    return this.serial('writing a batch', true, () => this.db.insertParts(INSERT_RECORD, [INSERT_BY_RECIPIENT, INSERT_BY_RULE], batch));
  }

  async find(filter: TrackingFilter): Promise<TrackingRecord[]> {
    const { sql, params } = findQuery(checkFilter(filter));
    return this.serial('finding records', false, async () => (await this.db.all(sql, params)).map(recordFromRow));
  }

  async get(id: number): Promise<TrackingRecord | undefined> {
    if (!Number.isSafeInteger(id)) return undefined;
    return this.serial('reading a record', false, async () => (await this.db.all('SELECT * FROM records WHERE id = ?', [id])).map(recordFromRow)[0]);
  }

  /**
   * Deletes the records older than `before`, then the oldest while the live pages pass `maxBytes`;
   * then gives the free pages back (incremental vacuum) and checkpoints so the file itself shrinks.
   * A reader holding an old snapshot can hold the checkpoint back; the next prune finishes it.
   */
  async prune(before: number, maxBytes?: number): Promise<number> {
    if (!Number.isFinite(before)) throw new RangeError(`tracking prune: before ${before} is not a time in ms`);
    return this.serial('pruning', true, async () => {
      let removed = 0;
      let deleted: number;
      do {
        deleted = await this.deleteOldest(PRUNE_CHUNK, before);
        removed += deleted;
      } while (deleted === PRUNE_CHUNK);
      while (maxBytes !== undefined) {
        const { used, records } = await this.usage();
        if (used <= maxBytes || records === 0) break;
        // Enough of the oldest to fall under the cap at the average record's size, and a little more.
        const n = Math.min(PRUNE_CHUNK, Math.max(1, Math.ceil(((used - maxBytes) / used) * records * 1.05)));
        deleted = await this.deleteOldest(n);
        removed += deleted;
        if (deleted === 0) break;
      }
      if (removed > 0) await this.db.exec('PRAGMA incremental_vacuum; PRAGMA wal_checkpoint(TRUNCATE);');
      return removed;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.catch(() => undefined);
    await this.db.close();
  }

  /** Bytes in pages that hold data (the file less its free pages), and the record count. */
  private async usage(): Promise<{ used: number; records: number }> {
    const [row] = await this.db.all(
      'SELECT (SELECT page_count FROM pragma_page_count()) - (SELECT freelist_count FROM pragma_freelist_count()) AS pages, ' +
        '(SELECT page_size FROM pragma_page_size()) AS page_size, (SELECT count(*) FROM records) AS records',
    );
    return { used: (row.pages as number) * (row.page_size as number), records: row.records as number };
  }

  /** Deletes up to `limit` of the oldest records (older than `before`, when given) and their children, in one transaction. */
  private async deleteOldest(limit: number, before?: number): Promise<number> {
    await this.db.exec(`
      BEGIN;
      CREATE TEMP TABLE IF NOT EXISTS doomed (id INTEGER PRIMARY KEY);
      DELETE FROM temp.doomed;
      INSERT INTO temp.doomed SELECT id FROM records${before === undefined ? '' : ` WHERE time < ${before}`} ORDER BY time LIMIT ${limit};
      ${DELETE_DOOMED_KEYS.join(';\n')};
      DELETE FROM records WHERE id IN (SELECT id FROM temp.doomed);
      COMMIT;`);
    const [row] = await this.db.all('SELECT count(*) AS n FROM temp.doomed');
    return row.n as number;
  }

  /**
   * A new connection thread, set up as open() set up the first, when that one stopped. It should
   * not (every database error is answered, not thrown); if it does, the calls in flight fail and
   * the next call starts a new one, so the writer's next retry writes again.
   */
  private async revive(): Promise<void> {
    if (!this.db.stopped || this.closed) return;
    // The schema is current (open() saw to it); a writer's connection needs its pragmas again.
    this.db = await connect(this.path, this.readOnly, this.busyTimeoutMs, async (c) => {
      if (!this.readOnly) await c.exec(WRITER_PRAGMAS);
    });
  }

  private serial<T>(what: string, writes: boolean, run: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new TrackingError(`tracking log: ${what} failed: ${this.path} is closed`));
    if (writes && this.readOnly) return Promise.reject(new TrackingError(`tracking log: ${what} failed: ${this.path} is open read-only`));
    const result = this.queue.then(async () => {
      await this.revive();
      return run();
    }).catch((error: unknown) => {
      throw toTrackingError(error, `${what} in ${this.path}`);
    });
    this.queue = result.catch(() => undefined);
    return result;
  }
}

/** A connection thread on `path` with its lock wait set and `setUp` done; closed again when either fails. */
async function connect(path: string, readOnly: boolean, busyTimeoutMs: number, setUp: (db: LibsqlConnection) => Promise<void>): Promise<LibsqlConnection> {
  const db = await LibsqlConnection.open(path, readOnly);
  try {
    await db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
    await setUp(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}

async function userVersion(db: LibsqlConnection): Promise<number> {
  const [row] = await db.all('PRAGMA user_version');
  return row.user_version as number;
}

function tooNew(path: string, version: number): TrackingError {
  return new TrackingError(`tracking log: ${path} has schema version ${version}, newer than this Floodgate's ${SCHEMA_VERSION}: it was written by a later version`);
}

async function checkVersion(db: LibsqlConnection, path: string): Promise<void> {
  const version = await userVersion(db);
  if (version > SCHEMA_VERSION) throw tooNew(path, version);
  if (version < SCHEMA_VERSION) {
    throw new TrackingError(`tracking log: ${path} has schema version ${version}, older than this Floodgate's ${SCHEMA_VERSION}: the service upgrades it when it starts`);
  }
}

/**
 * Brings the file to SCHEMA_VERSION, each migration in one transaction with its version bump.
 * BEGIN IMMEDIATE takes the write lock before the version is read again, so two processes
 * opening a new file at once do not both run migration 1.
 */
async function migrate(db: LibsqlConnection, path: string): Promise<void> {
  const found = await userVersion(db);
  if (found === 0) {
    // Only possible before the first table exists: later, incremental_vacuum can give pages back to the file system.
    await db.exec('PRAGMA auto_vacuum = INCREMENTAL');
  }
  await db.exec(WRITER_PRAGMAS);
  for (;;) {
    await db.exec('BEGIN IMMEDIATE');
    try {
      const version = await userVersion(db);
      if (version > SCHEMA_VERSION) throw tooNew(path, version);
      if (version === SCHEMA_VERSION) {
        await db.exec('COMMIT');
        // An upgrade rewrote tables (migration 2 rewrites every record): give their old pages back to
        // the file system now rather than at the first prune. Measured with a million records on 2
        // cores: 28-31 s, the file 721 MB before, 1,477 MB after without this, 885 MB with it.
        if (found > 0 && found < SCHEMA_VERSION) await db.exec('PRAGMA incremental_vacuum; PRAGMA wal_checkpoint(TRUNCATE);');
        return;
      }
      await db.exec(`${MIGRATIONS[version]}\nPRAGMA user_version = ${version + 1};`);
      await db.exec('COMMIT');
    } catch (error) {
      if (db.inTransaction) await db.exec('ROLLBACK');
      throw error;
    }
  }
}
