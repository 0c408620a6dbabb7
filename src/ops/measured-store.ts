// A ScoreStore that times every call: the latency histogram and error counter of /metrics, and the
// store's health (answering or not, the last error, recent p50/p99) for the status page and /readyz.
import { performance } from 'node:perf_hooks';
import type { MaybePromise } from '../maybe-promise';
import type { ScoreRecord, ScoreStore, ScoreUpdate } from '../store/score-store';
import type { FloodgateMetrics, StoreOperation } from './metrics';
import type { StoreHealthReport } from './status-report';

/** Latencies kept for the percentiles: the last this many calls. */
const LATENCIES_KEPT = 1000;

export class MeasuredStore implements ScoreStore {
  private calls = 0;
  private timedCalls = 0;
  private errors = 0;
  private ok = true;
  private lastError: string | undefined;
  private readonly latencies = new Float64Array(LATENCIES_KEPT);

  constructor(
    private readonly store: ScoreStore,
    private readonly backend: StoreHealthReport['backend'],
    private readonly metrics: FloodgateMetrics,
  ) {}

  add(key: string, points: number, halfLifeMs: number, now: number, cap?: number): Promise<number> {
    return this.timed('add', () => this.store.add(key, points, halfLifeMs, now, cap));
  }

  /** Scores the store has at once are returned at once (and timed so); only a call that waits is awaited. */
  addMany(updates: ReadonlyArray<ScoreUpdate>, now: number): MaybePromise<number[]> {
    const started = performance.now();
    let scores: MaybePromise<number[]>;
    try {
      scores = this.store.addMany(updates, now);
    } catch (error) {
      this.record('add', started, error);
      throw error;
    }
    if (!(scores instanceof Promise)) {
      this.record('add', started, undefined);
      return scores;
    }
    return this.timed('add', () => scores, started);
  }

  get(key: string, now: number): Promise<ScoreRecord | undefined> {
    return this.timed('get', () => this.store.get(key, now));
  }

  delete(key: string): Promise<boolean> {
    return this.timed('delete', () => this.store.delete(key));
  }

  top(n: number, now: number, prefix?: string): Promise<ScoreRecord[]> {
    return this.timed('top', () => this.store.top(n, now, prefix));
  }

  sweep(now: number): Promise<number> {
    return this.timed('sweep', () => this.store.sweep(now));
  }

  size(): Promise<number> {
    return this.timed('size', () => this.store.size());
  }

  close(): Promise<void> {
    return this.store.close();
  }

  health(): StoreHealthReport {
    const n = Math.min(this.timedCalls, LATENCIES_KEPT);
    const sorted = Array.from(this.latencies.subarray(0, n)).sort((a, b) => a - b);
    const at = (q: number) => Math.round(sorted[Math.min(n - 1, Math.floor(q * n))]! * 1000) / 1000;
    return {
      backend: this.backend,
      ok: this.ok,
      ...(this.ok || this.lastError === undefined ? {} : { lastError: this.lastError }),
      calls: this.calls,
      errors: this.errors,
      latencyMs: n === 0 ? null : { p50: at(0.5), p99: at(0.99) },
    };
  }

  private async timed<T>(operation: StoreOperation, call: () => Promise<T>, started = performance.now()): Promise<T> {
    try {
      const value = await call();
      this.record(operation, started, undefined);
      return value;
    } catch (error) {
      this.record(operation, started, error);
      throw error;
    }
  }

  private record(operation: StoreOperation, started: number, error: unknown): void {
    const ms = performance.now() - started;
    // The percentiles are the mail path's; a scan for the page's top keys takes seconds by design.
    if (operation === 'add' || operation === 'get' || operation === 'delete') this.latencies[this.timedCalls++ % LATENCIES_KEPT] = ms;
    this.calls++;
    if (error === undefined) {
      this.ok = true;
    } else {
      this.errors++;
      this.ok = false;
      this.lastError = String((error as Error).message ?? error);
    }
    this.metrics.storeCall(this.backend, operation, ms / 1000, error !== undefined);
  }
}
