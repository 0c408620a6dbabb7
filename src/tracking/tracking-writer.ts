// Writes tracking records off the mail path: a bounded queue, flushed in batches by one writer; when the
// database fails or lags, records are dropped and counted, never waited for. Also prunes on a timer.
import type { TrackingRecord, TrackingStore } from './tracking-record';

export interface TrackingWriterOptions {
  /** Records waiting at most; more are dropped (the database cannot keep up). */
  maxQueued?: number;
  /** Records per transaction at most. */
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

export class TrackingWriter {
  private queue: TrackingRecord[] = [];
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
    this.batchSize = options.batchSize ?? 500;
    this.flushMs = options.flushMs ?? 200;
    this.now = options.now ?? Date.now;
    this.pruneTimer = setInterval(() => void this.prune(), options.pruneIntervalMs ?? 10 * 60_000);
    this.pruneTimer.unref();
  }

  /** Queues one record; never blocks, never throws. */
  add(record: TrackingRecord): void {
    if (this.closed) return;
    if (this.queue.length >= this.maxQueued) {
      this.options.onDropped(1, 'queue full');
      return;
    }
    this.queue.push(record);
    if (this.queue.length >= this.batchSize && this.healthy) this.kick();
    else this.timer ??= setTimeout(() => this.kick(), this.healthy ? this.flushMs : Math.max(this.flushMs, this.retryAt - this.now()));
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Writes what is queued, then stops; used at shutdown. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pruneTimer);
    clearTimeout(this.timer);
    await this.writing;
    while (this.queue.length > 0) await this.flush();
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
      if (this.queue.length === 0 || this.closed) return;
      // A failing database is asked again after a pause, not in a loop: the queue holds (or drops) meanwhile.
      if (this.healthy) this.kick();
      else this.timer ??= setTimeout(() => this.kick(), Math.max(0, this.retryAt - this.now()));
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, this.batchSize);
    if (batch.length === 0) return;
    try {
      await this.store.write(batch);
      this.options.onWritten?.(batch.length);
      this.health(undefined);
    } catch (error) {
      this.retryAt = this.now() + RETRY_MS;
      this.options.onDropped(batch.length, 'database error');
      this.health(error as Error);
    }
  }

  private health(error: Error | undefined): void {
    if ((error === undefined) === this.healthy) return;
    this.healthy = error === undefined;
    this.options.onHealth(error);
  }
}
