// Writes tracking records off the mail path: a bounded queue, flushed in batches by one writer; when the
// database fails or lags, records are dropped and counted, never waited for. Also prunes on a timer.
import type { TrackingRecord, TrackingStore } from './tracking-record';

export interface TrackingWriterOptions {
  /** Records waiting at most; more are dropped (the database cannot keep up). */
  maxQueued?: number;
  /** Records per transaction (whole parts: up to ENCODE_EVERY - 1 more); the store's own batchSize by default. */
  batchSize?: number;
  /** How long a record may wait for others to share its transaction. */
  flushMs?: number;
  /** Retention: records older than this are pruned. */
  keepMs: number;
  /** Size cap of the database, when the store supports one. */
  maxBytes?: number;
  pruneIntervalMs?: number;
  /** A batch was written. */
  onWritten?(count: number): void;
  /** Records lost: the queue was full, or the database refused the batch. */
  onDropped(count: number, reason: 'queue full' | 'database error'): void;
  /** The database failed (error) or works again (undefined): called once per change of state. */
  onHealth(error: Error | undefined): void;
  onPruned?(count: number): void;
  now?: () => number;
}

/** Pause before writing again to a database that failed. */
const RETRY_MS = 1000;

/**
 * Records the store encodes at once, as one part: ~0.2 ms of the event loop, so that no milter
 * answer waits long behind it (a batch of 500 encoded at once held every answer ~2 ms).
 */
const ENCODE_EVERY = 50;

/** A record reaches the database within a second. */
const FLUSH_MS = 1000;

export class TrackingWriter {
  /** Records not yet encoded. */
  private fresh: TrackingRecord[] = [];
  /** Encoded parts waiting for their batch, and the records in them. */
  private parts: { bytes: Buffer; count: number }[] = [];
  private partRecords = 0;
  private writing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly pruneTimer: NodeJS.Timeout;
  private healthy = true;
  /** After a failure, no write before this time. */
  private retryAt = 0;
  private closed = false;
  private readonly maxQueued: number;
  private readonly batchSize: number;
  private readonly flushMs: number;
  private readonly now: () => number;

  constructor(
    private readonly store: TrackingStore,
    private readonly options: TrackingWriterOptions,
  ) {
    this.maxQueued = options.maxQueued ?? 50_000;
    this.batchSize = options.batchSize ?? store.batchSize;
    this.flushMs = options.flushMs ?? FLUSH_MS;
    this.now = options.now ?? Date.now;
    this.pruneTimer = setInterval(() => void this.prune(), options.pruneIntervalMs ?? 10 * 60_000);
    this.pruneTimer.unref();
  }

  /** Queues one record; never blocks, never throws. */
  add(record: TrackingRecord): void {
    if (this.closed) return;
    if (this.queued >= this.maxQueued) {
      this.options.onDropped(1, 'queue full');
      return;
    }
    this.fresh.push(record);
    if (this.fresh.length >= ENCODE_EVERY) this.encodeFresh();
    if (this.queued >= this.batchSize && this.healthy) this.kick();
    else this.timer ??= setTimeout(() => this.kick(), this.healthy ? this.flushMs : Math.max(this.flushMs, this.retryAt - this.now()));
  }

  get queued(): number {
    return this.fresh.length + this.partRecords;
  }

  /** Writes what is queued, then stops; used at shutdown. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pruneTimer);
    clearTimeout(this.timer);
    await this.writing;
    while (this.queued > 0) await this.flush();
  }

  /** Deletes what retention and the size cap say must go. */
  async prune(): Promise<void> {
    try {
      const removed = await this.store.prune(this.now() - this.options.keepMs, this.options.maxBytes);
      this.options.onPruned?.(removed);
    } catch (error) {
      this.health(error as Error);
    }
  }

  private kick(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.writing) return;
    this.writing = this.flush().finally(() => {
      this.writing = undefined;
      if (this.queued === 0 || this.closed) return;
      // A failing database is asked again after a pause, not in a loop: the queue holds (or drops) meanwhile.
      if (this.healthy) this.kick();
      else this.timer ??= setTimeout(() => this.kick(), Math.max(0, this.retryAt - this.now()));
    });
  }

  /**
   * The fresh records as one part. A record no store could hold (RangeError: a bug, not an outage)
   * costs only itself: the part is then encoded record by record, and each that fails is dropped.
   */
  private encodeFresh(): void {
    const records = this.fresh;
    this.fresh = [];
    try {
      this.parts.push({ bytes: this.store.encode(records), count: records.length });
      this.partRecords += records.length;
    } catch {
      for (const record of records) {
        try {
          this.parts.push({ bytes: this.store.encode([record]), count: 1 });
          this.partRecords += 1;
        } catch (error) {
          this.options.onDropped(1, 'database error');
          this.health(error as Error);
        }
      }
    }
  }

  /** The parts of one batch, with what is still fresh when they are fewer than a batch (the timer went off). */
  private async flush(): Promise<void> {
    if (this.partRecords < this.batchSize && this.fresh.length > 0) this.encodeFresh();
    const batch: Buffer[] = [];
    let count = 0;
    while (count < this.batchSize && this.parts.length > 0) {
      const part = this.parts.shift()!;
      batch.push(part.bytes);
      count += part.count;
    }
    this.partRecords -= count;
    if (count > 0) await this.writeCounted(count, () => this.store.writeEncoded(batch));
  }

  /** Runs one batch's write: counted as written, or as dropped with a pause before the next. */
  private async writeCounted(count: number, write: () => Promise<void>): Promise<void> {
    try {
      await write();
      this.options.onWritten?.(count);
      this.health(undefined);
    } catch (error) {
      this.retryAt = this.now() + RETRY_MS;
      this.options.onDropped(count, 'database error');
      this.health(error as Error);
    }
  }

  private health(error: Error | undefined): void {
    if ((error === undefined) === this.healthy) return;
    this.healthy = error === undefined;
    this.options.onHealth(error);
  }
}
