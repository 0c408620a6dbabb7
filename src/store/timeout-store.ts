// withTimeout: a ScoreStore whose every call answers within a deadline, so a stuck disk never stalls the MTA.
import { StoreError } from './errors';
import type { ScoreRecord, ScoreStore, ScoreUpdate } from './score-store';

/**
 * Wraps `store` so that a call not settled within `ms` rejects with StoreError (FG_ERR_STORE_UNAVAILABLE),
 * which the engine maps to the configured store-down policy. The call itself cannot be cancelled: an
 * add() that timed out may still land later, so callers must treat its points as "maybe counted".
 */
export function withTimeout(store: ScoreStore, ms: number): ScoreStore {
  if (!Number.isFinite(ms) || ms <= 0) throw new RangeError(`score store: the timeout must be a positive number of ms, got ${ms}`);
  const bounded = <T>(what: string, call: () => Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreError(`score store: ${what} did not answer within ${ms} ms`)), ms);
    });
    // call() may throw synchronously (a plain function, not async); Promise.resolve().then turns that into a rejection.
    return Promise.race([Promise.resolve().then(call), deadline]).finally(() => clearTimeout(timer));
  };
  return {
    add: (key: string, points: number, halfLifeMs: number, now: number, cap?: number): Promise<number> =>
      bounded('add', () => store.add(key, points, halfLifeMs, now, cap)),
    addMany: (updates: ReadonlyArray<ScoreUpdate>, now: number): Promise<number[]> => bounded('addMany', () => store.addMany(updates, now)),
    get: (key: string, now: number): Promise<ScoreRecord | undefined> => bounded('get', () => store.get(key, now)),
    delete: (key: string): Promise<boolean> => bounded('delete', () => store.delete(key)),
    top: (n: number, now: number, prefix?: string): Promise<ScoreRecord[]> => bounded('top', () => store.top(n, now, prefix)),
    sweep: (now: number): Promise<number> => bounded('sweep', () => store.sweep(now)),
    size: (): Promise<number> => bounded('size', () => store.size()),
    close: (): Promise<void> => bounded('close', () => store.close()),
  };
}
