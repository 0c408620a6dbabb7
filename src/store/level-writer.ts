// Write-behind for LevelStore: the changed keys are written to LevelDB in grouped batches, off the answer path.
//
// A change is answered from memory (ScoreCache) at once and written here within `flushIntervalMs`, or
// sooner when `batchEntries` keys have changed; one batch is written at a time and the changes made
// meanwhile gather for the next, so a key changed many times in between is written once. Each batch
// puts or deletes a key's record and moves its index entry together, so the disk stays consistent.
//
// Crash window: a process killed (SIGKILL, OOM) loses the changes of at most the last flush interval
// plus the batch being written (more only while LevelDB cannot keep up, up to `maxDirty` keys). That
// is the price of answering without LevelDB; LevelDB itself does not fsync its log by default either,
// so a machine crash lost the last seconds before too. A graceful close() writes everything.
//
// Back-pressure: once `maxDirty` keys wait to be written, calls wait (room()) until a batch lands, so
// a disk slower than the mail never grows memory without bound. A failed batch is kept in memory and
// retried every `retryMs`; until a retry succeeds `failure` is set and LevelStore rejects every call
// with it (StoreError), so the service applies on_store_error instead of answering from scores that
// may never reach the disk.
//
// After a failed batch: a write that failed half-way (ENOSPC) leaves a torn record in LevelDB's log,
// and LevelDB appends the later batches after it. They are served from its memory table meanwhile, but
// reopening the directory replays the log and drops everything from the torn record to the end of its
// 32 KiB block and beyond (measured: every score written before and after a disk-full episode lost at
// the next start). So the first batch that lands after a failure calls `afterRecovery`, which moves
// LevelDB's memory table into a table file and starts a fresh log, leaving the torn one obsolete.
//
// A full disk can also fail LevelDB's own background write of a table file. LevelDB then keeps that
// error and refuses every later write, even once there is room again, until the database is reopened
// (measured: 50 retries after the space was freed, all refused, and close() too). So every
// REOPEN_EVERY-th consecutive failure, the retry first reopens the database (`reopen`).
import type { Level } from 'level';
import { StoreError, toStoreError } from './errors';
import type { ScoreCache } from './level-cache';
import { INDEX_VALUE, encodeStored, expiryBucket, indexKey, recordKey } from './level-layout';

/** Consecutive failed batches (one a retryMs) after which a retry reopens LevelDB first. */
const REOPEN_EVERY = 3;

export interface WriteBehindOptions {
  /** Longest time a change waits before its batch is started. */
  flushIntervalMs: number;
  /** Changed keys that start a batch at once. */
  batchEntries: number;
  /** Changed keys not yet written at which calls wait for the disk (back-pressure). */
  maxDirty: number;
  /** Delay before a failed batch is tried again. */
  retryMs: number;
}

export class LevelWriter {
  /** Set while a batch has failed and not yet been written by a retry. */
  failure: StoreError | undefined;
  /** Batches failed in a row; reset when one lands. */
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private batch: Promise<void> | undefined;
  private roomWaiters: Array<() => void> = [];

  constructor(
    private readonly db: Level<string, string>,
    private readonly cache: ScoreCache,
    private readonly options: WriteBehindOptions,
    private readonly afterRecovery: () => Promise<void> = async () => undefined,
    private readonly reopen: () => Promise<void> = async () => undefined,
  ) {}

  /** True when calls should wait for room() before changing anything. */
  get full(): boolean {
    return this.cache.dirty.size >= this.options.maxDirty;
  }

  /** Records a change of `key`, to be written by a coming batch. */
  changed(key: string, slot: number): void {
    this.cache.dirty.set(key, slot);
    if (this.batch !== undefined || this.failure !== undefined) return;
    if (this.cache.dirty.size >= this.options.batchEntries) this.startBatch();
    else this.timer ??= setTimeout(() => this.startBatch(), this.options.flushIntervalMs);
  }

  /** Resolves once fewer than maxDirty changes wait to be written; rejects while writes fail. */
  async room(): Promise<void> {
    while (this.full) {
      if (this.failure !== undefined) throw this.failure;
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
  }

  /** Writes every change made so far; rejects with the failure if a batch cannot be written. */
  async flushAll(): Promise<void> {
    for (;;) {
      if (this.batch !== undefined) await this.batch;
      else if (this.failure !== undefined) throw this.failure;
      else if (this.cache.dirty.size > 0) this.startBatch();
      else return;
    }
  }

  /** For close(): one last attempt even after a failure, then no more timers. */
  async finish(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.failure = undefined;
    try {
      await this.flushAll();
    } finally {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private startBatch(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.batch !== undefined || this.cache.dirty.size === 0) return;
    const taken = this.cache.dirty;
    // Each key's index bucket on disk before this batch, in the batch's order: a list, not a Map,
    // since failed() walks `taken` in the same order (a Map cost a hashed insert per key written).
    const previousBuckets: Array<number | undefined> = [];
    const written = this.write(taken, previousBuckets);
    // Swapped rather than cleared: changes made while this batch is written gather in a fresh map.
    this.cache.dirty = new Map();
    this.cache.writing = taken;
    this.wakeRoomWaiters();
    this.batch = written.then(
      () => this.landed(taken),
      (error: unknown) => this.failed(taken, previousBuckets, error),
    );
  }

  /**
   * Writes the keys' states as one chained batch, noting the index bucket each had on disk before. A
   * chained batch costs the event loop ~1 µs an operation against ~2-3 for db.batch(array), where
   * abstract-level copies every operation object and the binding then reads each one's properties by
   * name (bench: 6 % of the event loop's time at peak went to the array batch). Never throws: a
   * database that is not open rejects.
   */
  private write(taken: Map<string, number>, previousBuckets: Array<number | undefined>): Promise<void> {
    let batch: ReturnType<Level<string, string>['batch']> | undefined;
    try {
      batch = this.db.batch();
      for (const [key, slot] of taken) {
        previousBuckets.push(this.cache.diskBucket(slot));
        addOperations(batch, key, this.cache, slot);
      }
      return batch.write();
    } catch (error) {
      // Never written: its memory goes back at once rather than when the collector finds it.
      void batch?.close().catch(() => undefined);
      return Promise.reject(error);
    }
  }

  private landed(taken: Map<string, number>): void {
    this.batch = undefined;
    if (this.failure !== undefined) {
      // A failure of this call shows again as the next batch's failure (LevelDB keeps a failed background write's error).
      void this.afterRecovery().catch(() => undefined);
    }
    this.failure = undefined;
    this.failures = 0;
    if (this.cache.writing === taken) this.cache.writing = new Map();
    this.cache.evictOverflow();
    this.scheduleNext();
  }

  private failed(taken: Map<string, number>, previousBuckets: ReadonlyArray<number | undefined>, error: unknown): void {
    this.batch = undefined;
    this.failure = toStoreError(error, 'writing scores to LevelDB');
    // Nothing of the batch is on disk: its entries are dirty again, with the index entries the disk still has
    // (a key the batch never reached still has its own).
    let reached = 0;
    for (const [key, slot] of taken) {
      if (reached < previousBuckets.length) this.cache.setDiskBucket(slot, previousBuckets[reached++]);
      this.cache.dirty.set(key, slot);
    }
    this.cache.writing = new Map();
    this.failures += 1;
    this.wakeRoomWaiters();
    this.timer = setTimeout(() => this.retry(), this.options.retryMs);
    // A store nobody closes must not stay alive only to retry.
    this.timer.unref();
  }

  private retry(): void {
    this.timer = undefined;
    if (this.failures % REOPEN_EVERY !== 0) return this.startBatch();
    // While reopening, `batch` is set so that nothing else starts one; a failed reopen counts as a failed batch.
    this.batch = this.reopen().then(
      () => {
        this.batch = undefined;
        this.startBatch();
      },
      (error: unknown) => this.failed(new Map(), [], error),
    );
  }

  private scheduleNext(): void {
    if (this.cache.dirty.size >= this.options.batchEntries) this.startBatch();
    else if (this.cache.dirty.size > 0) this.timer ??= setTimeout(() => this.startBatch(), this.options.flushIntervalMs);
    this.wakeRoomWaiters();
  }

  private wakeRoomWaiters(): void {
    if (this.full && this.failure === undefined) return;
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    waiters.forEach((wake) => wake());
  }
}

/** What addOperations writes to: LevelDB's chained batch. */
interface BatchWriter {
  put(key: string, value: string): unknown;
  del(key: string): unknown;
}

/** Adds the operations that bring the disk to the slot's state; the index entry moves only when its bucket changed. */
function addOperations(batch: BatchWriter, key: string, cache: ScoreCache, slot: number): void {
  const stored = cache.stored(slot);
  const onDisk = cache.diskBucket(slot);
  const bucket = stored === undefined ? undefined : expiryBucket(stored.expiresAt);
  if (onDisk !== undefined && onDisk !== bucket) batch.del(indexKey(onDisk, key));
  if (stored === undefined) batch.del(recordKey(key));
  else {
    batch.put(recordKey(key), encodeStored(stored));
    if (bucket !== onDisk) batch.put(indexKey(bucket!, key), INDEX_VALUE);
  }
  cache.setDiskBucket(slot, bucket);
}
