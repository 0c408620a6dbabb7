// LevelStore: the score store in an embedded LevelDB directory (the default backend for one MTA host).
//
// Calls are answered from memory (ScoreCache: the hot keys, bounded, misses read from LevelDB in
// groups; KeyFilter: keys that certainly have no record, not read at all) and changes reach the disk
// behind them (LevelWriter: grouped batches every few ms). Each
// key's read-decay-write happens in one synchronous step on its single in-memory entry, so it is atomic
// without locks or compare-and-set, which LevelDB lacks. Durability: a graceful close() writes every
// change; a killed process loses at most the last flush interval (see level-writer.ts); writes are not
// fsync'd, so a crashed machine may lose the last seconds, a fair price for rate limiting.
import { Level } from 'level';
import { addOne, applyUpdate, checkBatch, checkKey, checkNow, checkTopLimit, copiesOf, liveRecord, type StoredScore } from './decay';
import { ensureDirectory } from './directory';
import { asDamage, recordsDroppedOnOpen, refuseOrphanedFiles } from './level-damage';
import { StoreError, toStoreError } from './errors';
import { ScoreCache } from './level-cache';
import { KeyFilter } from './key-filter';
import { checkFormat, scanRecordKeys } from './level-format';
import { FORMAT_KEY, INDEX_END, INDEX_PREFIX, RECORD_END, RECORD_PREFIX, decodeStored, indexEndFor, keyOfIndexEntry } from './level-layout';
import { LevelWriter, type WriteBehindOptions } from './level-writer';
import type { MaybePromise } from '../maybe-promise';
import type { ScoreRecord, ScoreStore, ScoreUpdate } from './score-store';
import { Sweeper, type SweeperOptions } from './sweeper';
import { TopScores } from './top-scores';

export interface LevelStoreOptions extends Partial<WriteBehindOptions> {
  /**
   * Compact the disk after a sweep that removed at least this many records and at least a quarter of
   * those stored: LevelDB keeps deleted entries as tombstones until compaction reaches them, so after
   * an attack's worth of keys expires the directory would otherwise stay as large as at its peak.
   * Default 10,000; Infinity never compacts.
   */
  compactAfterSweeping?: number;
  /**
   * Keys kept in memory, least recently used leave first; default 65,536, about 9 MiB (measured ~147
   * bytes a key: the key string, its map slot and six numbers in a shared array; see level-cache.ts).
   * A miss costs one grouped LevelDB read (in libuv's thread pool; the call waits for it) and a
   * key never stored none (KeyFilter); 65,536 keys hold the ip, network, sender and pair keys of the
   * last ~16,000 sessions, minutes of a busy MX, so the keys of a flood stay in memory.
   */
  cacheEntries?: number;
}

/** Flush every 5 ms or at 1,000 changed keys; wait for the disk at 20,000 (~4 MB); retry a failed batch after 1 s. */
const WRITE_BEHIND: WriteBehindOptions = { flushIntervalMs: 5, batchEntries: 1000, maxDirty: 20_000, retryMs: 1000 };
const DEFAULT_CACHE_ENTRIES = 65_536;
/**
 * LevelDB's own block cache, 2 MiB instead of its 8: the hot keys are answered from ScoreCache and new
 * ones by KeyFilter, so LevelDB only serves the occasional returning key, and the 8 MiB that random
 * reads of a million keys fill within seconds were resident memory for little gain.
 */
const BLOCK_CACHE_BYTES = 2 * 1024 * 1024;

/** How many index entries or records one step of sweep() or a scan handles: bounds memory and group size. */
const CHUNK = 1000;

// classic-level has compactRange(); the `level` package's types leave it out because browsers lack it.
interface Compactable {
  compactRange(start: string, end: string): Promise<void>;
}

export class LevelStore implements ScoreStore {
  /** Lines of LevelDB's LOG about damaged log records it skipped while opening (scores lost); usually none. */
  droppedOnOpen: string[] = [];
  private readonly cache: ScoreCache;
  private readonly writer: LevelWriter;
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;
  private sweeper: Sweeper | undefined;
  /** The filter being filled from the disk to replace `filter`; see refreshFilter(). */
  private nextFilter: KeyFilter | undefined;

  private constructor(
    private readonly db: Level<string, string>,
    readonly directory: string,
    /** Records stored (live or not yet swept), kept exact by every change, so size() needs no scan. */
    private records: number,
    private filter: KeyFilter,
    private readonly options: LevelStoreOptions,
  ) {
    this.cache = new ScoreCache(db, options.cacheEntries ?? DEFAULT_CACHE_ENTRIES, (key) => !this.filter.mayHave(key));
    this.writer = new LevelWriter(db, this.cache, { ...WRITE_BEHIND, ...definedOnly(options) }, () => this.startFreshLog(), () => this.reopenDatabase());
  }

  /**
   * Opens (creating if missing) the store in `directory`; StoreError if it cannot, e.g. another process
   * holds it, and StoreDamagedError, leaving the files as they are, if they are damaged (level-damage.ts).
   */
  static async open(directory: string, options: LevelStoreOptions = {}): Promise<LevelStore> {
    try {
      await ensureDirectory(directory);
    } catch (error) {
      throw new StoreError(`score store: cannot create the directory ${directory}: ${(error as Error).message}`, { cause: error });
    }
    await refuseOrphanedFiles(directory);
    const db = new Level<string, string>(directory, { valueEncoding: 'utf8', cacheSize: BLOCK_CACHE_BYTES });
    try {
      await db.open();
    } catch (error) {
      const damage = asDamage(directory, error);
      if (damage) throw damage;
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code === 'LEVEL_LOCKED'
        ? 'it is locked by another process (LevelDB allows one writer; is another floodgate running?)'
        : (cause?.message ?? (error as Error).message);
      throw new StoreError(`score store: cannot open LevelDB in ${directory}: ${why}`, { cause: error });
    }
    try {
      await checkFormat(db, directory);
      // Counted first, so the filter is made at its size at once (growing it would leave garbage the size of the disk's keys).
      const records = await scanRecordKeys(db);
      const filter = new KeyFilter(2 * records);
      await scanRecordKeys(db, (text, from) => filter.add(text, from));
      const store = new LevelStore(db, directory, records, filter, options);
      store.droppedOnOpen = await recordsDroppedOnOpen(directory);
      return store;
    } catch (error) {
      await db.close().catch(() => undefined);
      throw asDamage(directory, error) ?? toStoreError(error, `opening ${directory}`);
    }
  }

  add(key: string, points: number, halfLifeMs: number, now: number, cap?: number): Promise<number> {
    return addOne(this, key, points, halfLifeMs, now, cap);
  }

  /** At once when every key is in memory or certainly new (the usual case), else after one grouped read. */
  addMany(updates: ReadonlyArray<ScoreUpdate>, now: number): MaybePromise<number[]> {
    checkBatch(updates, now);
    if (updates.length === 0) return [];
    let batch = updates;
    const scores = this.use('add', updates.map((u) => u.key), true, (slots) => batch.map((update, i) => {
      const slot = slots[i]!;
      const step = applyUpdate(this.cache.stored(slot), update, now);
      if (step.next !== 'unchanged') this.change(update.key, slot, step.next ?? undefined);
      return step.score;
    }));
    // Applied later (after a disk read, or once the writer has room): then on copies of what was
    // checked, not on the caller's objects as they may be by then. Applied now (the usual event,
    // whose keys are in memory), on the updates as given: a copy of each was garbage (issue 20).
    if (scores instanceof Promise) batch = copiesOf(updates);
    return scores;
  }

  async get(key: string, now: number): Promise<ScoreRecord | undefined> {
    checkKey(key);
    checkNow(now);
    return this.use('get', [key], false, ([slot]) => liveRecord(key, this.cache.stored(slot!), now));
  }

  async delete(key: string): Promise<boolean> {
    checkKey(key);
    return this.use('delete', [key], true, ([slot]) => {
      if (!this.cache.hasRecord(slot!)) return false;
      this.change(key, slot!, undefined);
      return true;
    });
  }

  /** Writes what is pending first, so the scan sees every change answered before the call; memory overrides the disk. */
  async top(n: number, now: number, prefix = ''): Promise<ScoreRecord[]> {
    checkTopLimit(n);
    checkNow(now);
    this.checkOpen();
    return this.track('top', async () => {
      await this.writer.flushAll();
      const top = new TopScores(n);
      const from = RECORD_PREFIX + prefix;
      const iterator = this.db.iterator({ gte: from, lt: RECORD_END });
      try {
        for (let entries = await iterator.nextv(CHUNK); entries.length > 0; entries = await iterator.nextv(CHUNK)) {
          for (const [storeKey, value] of entries) {
            // Keys sharing the prefix are contiguous from `from`, so the first one without it ends the scan.
            if (!storeKey.startsWith(from)) return top.result();
            const key = storeKey.slice(RECORD_PREFIX.length);
            const slot = this.cache.peek(key);
            const record = liveRecord(key, slot < 0 ? decodeStored(key, value) : this.cache.stored(slot), now);
            if (record !== undefined) top.offer(record);
          }
        }
        return top.result();
      } finally {
        await iterator.close();
      }
    });
  }

  /** Walks the expiry index up to `now` in time order, a chunk at a time, deleting the records that have expired. */
  async sweep(now: number): Promise<number> {
    checkNow(now);
    this.checkOpen();
    return this.track('sweep', async () => {
      // The index on disk must list every record, also those created since the last batch.
      await this.writer.flushAll();
      const storedBefore = this.records;
      let removed = 0;
      let after = INDEX_PREFIX;
      const end = indexEndFor(now);
      for (;;) {
        const entries = await this.db.keys({ gt: after, lt: end, limit: CHUNK }).all();
        if (entries.length === 0) break;
        after = entries[entries.length - 1]!;
        const keys = [...new Set(entries.map(keyOfIndexEntry))];
        await this.writer.room();
        // Each record is checked in memory at this moment: an add since the index was written keeps its key.
        removed += await this.run(keys, (slots) => keys.filter((key, i) => {
          // NaN (no record) compares false: nothing to delete.
          if (!(this.cache.expiresAt(slots[i]!) <= now)) return false;
          this.change(key, slots[i]!, undefined);
          return true;
        }).length);
      }
      await this.writer.flushAll();
      const threshold = this.options.compactAfterSweeping ?? 10_000;
      if (removed >= threshold && removed * 4 >= storedBefore) await this.compactNow();
      return removed;
    });
  }

  async size(): Promise<number> {
    this.checkOpen();
    return this.records;
  }

  /** Rewrites the files without deleted entries, so the directory shrinks; sweep() calls it after mass expiry. */
  async compact(): Promise<void> {
    this.checkOpen();
    await this.track('compact', async () => {
      await this.writer.flushAll();
      await this.compactNow();
    });
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

  /** Waits for calls in flight, writes every change, then closes LevelDB; StoreError if the last changes could not be written. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.stopSweeper();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    let failure: StoreError | undefined;
    await this.writer.finish().catch((error: unknown) => {
      failure = toStoreError(error, 'writing the last scores on close');
    });
    await this.db.close().catch((error: unknown) => {
      failure ??= toStoreError(error, 'close');
    });
    if (failure !== undefined) throw failure;
  }

  /** Sets a key's state and hands it to the writer, keeping the record count and the key filter up to date. */
  private change(key: string, slot: number, next: StoredScore | undefined): void {
    const had = this.cache.hasRecord(slot);
    const created = !had && next !== undefined;
    if (had && next === undefined) this.records--;
    // Set before a filter refresh starts, which takes the keys in memory from their slots.
    this.cache.setStored(slot, next);
    this.writer.changed(key, slot);
    if (!created) return;
    this.records++;
    this.filter.add(key);
    this.nextFilter?.add(key);
    if (this.filter.full) this.refreshFilter();
  }

  /**
   * Replaces a full key filter by one made from the records now stored, sized for twice their number,
   * in the background (~0.5 s per million keys). Keys created meanwhile go into both; keys only in
   * memory are added from the cache. A failed scan keeps the old filter: still right, only answering
   * "maybe" more often.
   */
  private refreshFilter(): void {
    if (this.nextFilter !== undefined || this.closed) return;
    const next = new KeyFilter(2 * this.records);
    this.nextFilter = next;
    this.cache.forEachStored((key) => next.add(key));
    this.track('rebuilding the key filter', async () => {
      try {
        await scanRecordKeys(this.db, (text, from) => next.add(text, from));
        this.filter = next;
      } finally {
        this.nextFilter = undefined;
      }
    }).catch(() => undefined);
  }

  /**
   * Runs `apply` on the keys' slots: at once when all are in memory, else once they have been read.
   * Refused once closed or while writes fail (the writer's StoreError); a change waits while the disk is behind.
   */
  private use<T>(what: string, keys: readonly string[], changes: boolean, apply: (slots: number[]) => T): T | Promise<T> {
    this.checkOpen();
    if (changes && this.writer.full) return this.track(what, () => this.writer.room().then(() => this.run(keys, apply)));
    const result = this.run(keys, apply);
    return result instanceof Promise ? this.track(what, () => result) : result;
  }

  private run<T>(keys: readonly string[], apply: (slots: number[]) => T): T | Promise<T> {
    const slots = this.cache.findAll(keys);
    if (slots === undefined) return this.cache.whenLoaded(keys, apply);
    const result = apply(slots);
    this.cache.evictOverflow();
    return result;
  }

  /**
   * LevelDB's CompactRange first writes the memory table to a table file and switches to a new log;
   * the one-key range makes the rest of the compaction next to nothing. See level-writer.ts for why.
   */
  private async startFreshLog(): Promise<void> {
    const db = this.db as unknown as Partial<Compactable>;
    if (typeof db.compactRange === 'function') await db.compactRange(FORMAT_KEY, FORMAT_KEY);
  }

  /** Clears an error LevelDB keeps until reopened (see level-writer.ts); calls meanwhile fail as store errors. */
  private async reopenDatabase(): Promise<void> {
    if (this.closed) return;
    await this.db.close();
    if (!this.closed) await this.db.open();
  }

  private async compactNow(): Promise<void> {
    const db = this.db as unknown as Partial<Compactable>;
    if (typeof db.compactRange !== 'function') return;
    await db.compactRange(RECORD_PREFIX, RECORD_END);
    await db.compactRange(INDEX_PREFIX, INDEX_END);
  }

  /** Tracks an asynchronous call so close() can wait for it; its failures become StoreError. */
  private async track<T>(what: string, task: () => Promise<T>): Promise<T> {
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
    if (this.writer.failure !== undefined) throw this.writer.failure;
  }
}

/** The options given, without undefined ones (which would override the defaults when spread). */
function definedOnly(options: Partial<WriteBehindOptions>): Partial<WriteBehindOptions> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
}
