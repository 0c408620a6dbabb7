// Sweeps a score store on a timer, so expired records leave the disk even when nobody reads them.
import { performance } from 'node:perf_hooks';
import type { ScoreStore } from './score-store';

export interface SweeperOptions {
  intervalMs: number;
  /** Injected so tests move time instead of sleeping. */
  clock?: () => number;
  /** After each sweep: how many records went and how long it took. */
  onSweep?: (removed: number, elapsedMs: number) => void;
  /** Required: a failing sweep must be seen (logged, counted), and must not become an unhandled rejection. */
  onError: (error: unknown) => void;
}

export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly store: Pick<ScoreStore, 'sweep'>,
    private readonly options: SweeperOptions,
  ) {
    if (!Number.isFinite(options.intervalMs) || options.intervalMs <= 0) {
      throw new RangeError(`sweeper: intervalMs must be a positive number, got ${options.intervalMs}`);
    }
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.sweepNow(), this.options.intervalMs);
    // A sweeper alone must not keep the process alive (tests, a CLI command that opened the store).
    this.timer.unref();
  }

  /** Stops the timer and waits for a sweep in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  get started(): boolean {
    return this.timer !== undefined;
  }

  /** One sweep now; while one runs (a slow disk), further ticks join it instead of piling up. */
  sweepNow(): Promise<void> {
    this.running ??= this.sweepOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async sweepOnce(): Promise<void> {
    const now = (this.options.clock ?? Date.now)();
    const started = performance.now();
    try {
      const removed = await this.store.sweep(now);
      this.options.onSweep?.(removed, performance.now() - started);
    } catch (error) {
      this.options.onError(error);
    }
  }
}
