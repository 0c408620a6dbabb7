// FallbackStore: counts in process memory while the shared store fails (on_store_error: local), and goes back when it answers.
//
// While the primary (Redis) answers, every call goes to it. The first StoreError switches to a local
// MemoryStore, and that call and the following ones are answered from it, so each MX host keeps
// limiting on its own share of the traffic instead of accepting everything or tempfailing everything.
// While local, a background probe (one cheap read at most every `retryIntervalMs`, started by a call,
// never awaited by one) asks the primary; the first answer switches back. Each switch calls its
// callback once, so an outage is one log line and one counter step each way, not one per message.
//
// Points counted locally are not copied into the primary on recovery: they may overlap with calls
// that timed out but landed, and the primary's scores from before the outage are still the shared
// view. The local counters are dropped then, so an outage's keys do not stay in memory.
import type { MaybePromise } from '../maybe-promise';
import { StoreError } from './errors';
import { MemoryStore } from './memory-store';
import type { ScoreRecord, ScoreStore, ScoreUpdate } from './score-store';

export interface FallbackStoreOptions {
  /** Called once when the primary fails and calls start being counted locally. */
  onFallback?: (error: StoreError) => void;
  /** Called once when the primary answers again and calls go back to it. */
  onRecover?: () => void;
  /** How often, at most, the primary is probed while local. Default 1000 ms. */
  retryIntervalMs?: number;
  /** Injected so tests move time instead of sleeping. */
  clock?: () => number;
  /** The probe; default: a read of a key that never exists, one round trip on any backend. */
  probe?: (primary: ScoreStore) => Promise<unknown>;
  /** Makes the local store; default MemoryStore. */
  localStore?: () => ScoreStore;
}

export interface FallbackCounters {
  /** Switches to local counting. */
  fallbacks: number;
  /** Switches back to the primary. */
  recoveries: number;
  /** Calls answered from local counters. */
  localCalls: number;
}

/** A key no rule can produce (rule keys are `class:value`), so the probe never reads a real score. */
const PROBE_KEY = 'floodgate-fallback-probe';

/** Expired local records are dropped at most this often (in the callers' `now`), so an outage's memory stays bounded. */
const LOCAL_SWEEP_INTERVAL_MS = 60_000;

export class FallbackStore implements ScoreStore {
  readonly counters: FallbackCounters = { fallbacks: 0, recoveries: 0, localCalls: 0 };
  private local: ScoreStore;
  private usingLocal = false;
  private probing = false;
  private lastProbeAt = Number.NEGATIVE_INFINITY;
  private lastLocalSweep = Number.NEGATIVE_INFINITY;
  private closed = false;

  constructor(
    readonly primary: ScoreStore,
    private readonly options: FallbackStoreOptions = {},
  ) {
    this.local = this.newLocal();
  }

  /** True while calls are answered from local counters. */
  get isLocal(): boolean {
    return this.usingLocal;
  }

  add(key: string, points: number, halfLifeMs: number, now: number, cap?: number): Promise<number> {
    return this.route((store) => store.add(key, points, halfLifeMs, now, cap), now);
  }

  addMany(updates: ReadonlyArray<ScoreUpdate>, now: number): Promise<number[]> {
    return this.route((store) => store.addMany(updates, now), now);
  }

  get(key: string, now: number): Promise<ScoreRecord | undefined> {
    return this.route((store) => store.get(key, now));
  }

  delete(key: string): Promise<boolean> {
    return this.route((store) => store.delete(key));
  }

  top(n: number, now: number, prefix?: string): Promise<ScoreRecord[]> {
    return this.route((store) => store.top(n, now, prefix));
  }

  sweep(now: number): Promise<number> {
    return this.route((store) => store.sweep(now));
  }

  size(): Promise<number> {
    return this.route((store) => store.size());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([this.primary.close(), this.local.close()]);
  }

  /** Runs a call on the primary, or locally while it is down; `now` (from adds) paces the local sweep. */
  private async route<T>(call: (store: ScoreStore) => MaybePromise<T>, now?: number): Promise<T> {
    if (this.closed) throw new StoreError('score store: the store is closed');
    if (!this.usingLocal) {
      try {
        return await call(this.primary);
      } catch (error) {
        // A RangeError is a bug in the caller, not an outage: local counters would not fix it.
        if (!(error instanceof StoreError) || this.closed) throw error;
        this.switchToLocal(error);
      }
    } else {
      this.maybeProbe();
    }
    this.counters.localCalls++;
    const local = this.local;
    if (now !== undefined && now - this.lastLocalSweep >= LOCAL_SWEEP_INTERVAL_MS) {
      this.lastLocalSweep = now;
      await local.sweep(now).catch(() => 0);
    }
    return call(local);
  }

  private switchToLocal(error: StoreError): void {
    if (this.usingLocal) return;
    this.usingLocal = true;
    // The failure itself is the first probe: the next one waits a full interval.
    this.lastProbeAt = this.now();
    this.counters.fallbacks++;
    this.options.onFallback?.(error);
  }

  private switchToPrimary(): void {
    if (!this.usingLocal || this.closed) return;
    this.usingLocal = false;
    const dropped = this.local;
    this.local = this.newLocal();
    this.lastLocalSweep = Number.NEGATIVE_INFINITY;
    void dropped.close().catch(() => undefined);
    this.counters.recoveries++;
    this.options.onRecover?.();
  }

  private maybeProbe(): void {
    const now = this.now();
    if (this.probing || now - this.lastProbeAt < (this.options.retryIntervalMs ?? 1000)) return;
    this.probing = true;
    this.lastProbeAt = now;
    const probe = this.options.probe ?? ((primary: ScoreStore) => primary.get(PROBE_KEY, Date.now()));
    Promise.resolve()
      .then(() => probe(this.primary))
      .then(() => this.switchToPrimary(), () => undefined)
      .finally(() => {
        this.probing = false;
      });
  }

  private now(): number {
    return (this.options.clock ?? Date.now)();
  }

  private newLocal(): ScoreStore {
    return this.options.localStore?.() ?? new MemoryStore();
  }
}
