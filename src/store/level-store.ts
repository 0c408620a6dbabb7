// LevelStore: the score store in an embedded LevelDB directory (the default backend for one MTA host).
//
// Reads (get, top) go straight to LevelDB; every change goes through the LevelWriter's group commit,
// which keeps each key's read-decay-write atomic and writes value, expiry index entry and the old
// entry's removal in one batch. Writes are not fsync'd: a crashed process loses nothing, a crashed
// machine may lose the last seconds of scores, which for rate limiting is a fair price for speed.
import { Level } from 'level';
import { addOne, checkedBatch, checkKey, checkNow, checkTopLimit, liveRecord } from './decay';
import { ensureDirectory } from './directory';
import { StoreError, toStoreError } from './errors';
import {
  FORMAT_KEY, FORMAT_VERSION, INDEX_END, INDEX_PREFIX, RECORD_END, RECORD_PREFIX,
  decodeStored, indexEndFor, keyOfIndexEntry, recordKey,
} from './level-layout';
import { LevelWriter } from './level-writer';
import type { ScoreRecord, ScoreStore, ScoreUpdate } from './score-store';
import { Sweeper, type SweeperOptions } from './sweeper';
import { TopScores } from './top-scores';

export interface LevelStoreOptions {
  /**
   * Compact the disk after a sweep that removed at least this many records and at least a quarter of
   * those stored: LevelDB keeps deleted entries as tombstones until compaction reaches them, so after
   * an attack's worth of keys expires the directory would otherwise stay as large as at its peak.
   * Default 10,000; Infinity never compacts.
   */
  compactAfterSweeping?: number;
}

// classic-level has compactRange(); the `level` package's types leave it out because browsers lack it.
interface Compactable {
  compactRange(start: string, end: string): Promise<void>;
}

/** How many index entries or records one step of sweep() or a scan handles: bounds memory and group size. */
const CHUNK = 1000;

export class LevelStore implements ScoreStore {
  private readonly writer: LevelWriter;
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;
  private sweeper: Sweeper | undefined;

  private constructor(
    private readonly db: Level<string, string>,
    readonly directory: string,
    storedRecords: number,
    private readonly options: LevelStoreOptions,
  ) {
    this.writer = new LevelWriter(db, storedRecords);
  }

  /** Opens (creating if missing) the store in `directory`; StoreError if it cannot, e.g. another process holds it. */
  static async open(directory: string, options: LevelStoreOptions = {}): Promise<LevelStore> {
    try {
      await ensureDirectory(directory);
    } catch (error) {
      throw new StoreError(`score store: cannot create the directory ${directory}: ${(error as Error).message}`, { cause: error });
    }
    const db = new Level<string, string>(directory, { valueEncoding: 'utf8' });
    try {
      await db.open();
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code === 'LEVEL_LOCKED'
        ? 'it is locked by another process (LevelDB allows one writer; is another floodgate running?)'
        : (cause?.message ?? (error as Error).message);
      throw new StoreError(`score store: cannot open LevelDB in ${directory}: ${why}`, { cause: error });
    }
    try {
      await LevelStore.checkFormat(db, directory);
      // Counted once here and kept up to date by every write, so size() costs nothing (~0.5 s per million).
      const stored = await LevelStore.countRecords(db);
      return new LevelStore(db, directory, stored, options);
    } catch (error) {
      await db.close().catch(() => undefined);
      throw toStoreError(error, `opening ${directory}`);
    }
  }

  add(key: string, points: number, halfLifeMs: number, now: number, cap?: number): Promise<number> {
    return addOne(this, key, points, halfLifeMs, now, cap);
  }

  async addMany(updates: ReadonlyArray<ScoreUpdate>, now: number): Promise<number[]> {
    const checked = checkedBatch(updates, now);
    if (checked.length === 0) return [];
    return this.call('add', () => this.writer.add(checked, now));
  }

  async get(key: string, now: number): Promise<ScoreRecord | undefined> {
    checkKey(key);
    checkNow(now);
    return this.call('get', async () => {
      const value = await this.db.get(recordKey(key));
      return liveRecord(key, value === undefined ? undefined : decodeStored(key, value), now);
    });
  }

  async delete(key: string): Promise<boolean> {
    checkKey(key);
    return this.call('delete', () => this.writer.delete(key));
  }

  async top(n: number, now: number, prefix = ''): Promise<ScoreRecord[]> {
    checkTopLimit(n);
    checkNow(now);
    return this.call('top', async () => {
      const top = new TopScores(n);
      const from = RECORD_PREFIX + prefix;
      const iterator = this.db.iterator({ gte: from, lt: RECORD_END });
      try {
        for (let entries = await iterator.nextv(CHUNK); entries.length > 0; entries = await iterator.nextv(CHUNK)) {
          for (const [storeKey, value] of entries) {
            // Keys sharing the prefix are contiguous from `from`, so the first one without it ends the scan.
            if (!storeKey.startsWith(from)) return top.result();
            const key = storeKey.slice(RECORD_PREFIX.length);
            const record = liveRecord(key, decodeStored(key, value), now);
            if (record !== undefined) top.offer(record);
          }
        }
        return top.result();
      } finally {
        await iterator.close();
      }
    });
  }

  /** Walks the expiry index up to `now` in time order, a chunk at a time; the writer re-reads each record before deleting it. */
  async sweep(now: number): Promise<number> {
    checkNow(now);
    return this.call('sweep', async () => {
      const storedBefore = this.writer.records;
      let removed = 0;
      let after = INDEX_PREFIX;
      const end = indexEndFor(now);
      for (;;) {
        const entries = await this.db.keys({ gt: after, lt: end, limit: CHUNK }).all();
        if (entries.length === 0) break;
        after = entries[entries.length - 1]!;
        // An add() since the index was read may have moved a key's expiry past `now` (its batch also removed
        // the index entry seen here); expire() re-checks each record inside its group, so such keys stay.
        removed += await this.writer.expire([...new Set(entries.map(keyOfIndexEntry))], now);
      }
      const threshold = this.options.compactAfterSweeping ?? 10_000;
      if (removed >= threshold && removed * 4 >= storedBefore) await this.compactNow();
      return removed;
    });
  }

  async size(): Promise<number> {
    this.checkOpen();
    return this.writer.records;
  }

  /** Rewrites the files without deleted entries, so the directory shrinks; sweep() calls it after mass expiry. */
  async compact(): Promise<void> {
    await this.call('compact', () => this.compactNow());
  }

  /** Starts sweeping every `intervalMs` (timer unref'd); close() stops it. */
  startSweeper(options: SweeperOptions): void {
    this.checkOpen();
    if (this.sweeper?.started) throw new RangeError('score store: the sweeper is already running');
    this.sweeper = new Sweeper(this, options);
    this.sweeper.start();
  }

  async stopSweeper(): Promise<void> {
    await this.sweeper?.stop();
    this.sweeper = undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.stopSweeper();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    await this.db.close().catch((error: unknown) => {
      throw toStoreError(error, 'close');
    });
  }

  private async compactNow(): Promise<void> {
    const db = this.db as unknown as Partial<Compactable>;
    if (typeof db.compactRange !== 'function') return;
    await db.compactRange(RECORD_PREFIX, RECORD_END);
    await db.compactRange(INDEX_PREFIX, INDEX_END);
  }

  private static async checkFormat(db: Level<string, string>, directory: string): Promise<void> {
    const format = await db.get(FORMAT_KEY);
    if (format === undefined) await db.put(FORMAT_KEY, FORMAT_VERSION);
    else if (format !== FORMAT_VERSION) {
      throw new StoreError(`score store: ${directory} holds layout version ${format}; this floodgate reads version ${FORMAT_VERSION}`);
    }
  }

  private static async countRecords(db: Level<string, string>): Promise<number> {
    let count = 0;
    const iterator = db.keys({ gte: RECORD_PREFIX, lt: RECORD_END });
    try {
      for (let keys = await iterator.nextv(CHUNK * 10); keys.length > 0; keys = await iterator.nextv(CHUNK * 10)) count += keys.length;
    } finally {
      await iterator.close();
    }
    return count;
  }

  /** Runs a backend call: refused once closed, failures turned into StoreError, tracked so close() can wait for it. */
  private async call<T>(what: string, task: () => Promise<T>): Promise<T> {
    this.checkOpen();
    const running = task();
    this.inFlight.add(running);
    try {
      return await running;
    } catch (error) {
      throw toStoreError(error, what);
    } finally {
      this.inFlight.delete(running);
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new StoreError('score store: the LevelDB store is closed');
  }
}
