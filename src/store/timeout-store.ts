// withTimeout: a ScoreStore whose every call answers within a deadline, so a stuck disk never stalls the MTA.
import { StoreError } from './errors';
import type { MaybePromise } from '../maybe-promise';
import type { ScoreRecord, ScoreStore, ScoreUpdate } from './score-store';

/**
 * Wraps `store` so that a call not settled within `ms` rejects with StoreError (FG_ERR_STORE_UNAVAILABLE),
 * which the engine maps to the configured store-down policy. The call itself cannot be cancelled: an
 * add() that timed out may still land later, so callers must treat its points as "maybe counted".
 */
export function withTimeout(store: ScoreStore, ms: number): ScoreStore {
  if (!Number.isFinite(ms) || ms <= 0) throw new RangeError(`score store: the timeout must be a positive number of ms, got ${ms}`);
  // One promise and one timer per call: the call runs at once, and whichever settles first wins (the
  // later settle is ignored). Promise.race with a deadline promise and finally() cost three more
  // promises and an array on every store call of every SMTP event.
  const bounded = <T>(what: string, call: () => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new StoreError(`score store: ${what} did not answer within ${ms} ms`)), ms);
      const settle = (): void => clearTimeout(timer);
      let answer: Promise<T>;
      try {
        answer = call();
      } catch (error) {
        // call() may throw synchronously (a plain function, not async): a rejection like any other.
        settle();
        reject(error);
        return;
      }
      answer.then(
        (value) => {
          settle();
          resolve(value);
        },
        (error: unknown) => {
          settle();
          reject(error);
        },
      );
    });
  return {
    add: (key: string, points: number, halfLifeMs: number, now: number, cap?: number): Promise<number> =>
      bounded('add', () => store.add(key, points, halfLifeMs, now, cap)),
    // Scores the store has at once need no deadline: only a call that has to wait is bounded.
    addMany: (updates: ReadonlyArray<ScoreUpdate>, now: number): MaybePromise<number[]> => {
      const scores = store.addMany(updates, now);
      return scores instanceof Promise ? bounded('addMany', () => scores) : scores;
    },
    get: (key: string, now: number): Promise<ScoreRecord | undefined> => bounded('get', () => store.get(key, now)),
    delete: (key: string): Promise<boolean> => bounded('delete', () => store.delete(key)),
    top: (n: number, now: number, prefix?: string): Promise<ScoreRecord[]> => bounded('top', () => store.top(n, now, prefix)),
    sweep: (now: number): Promise<number> => bounded('sweep', () => store.sweep(now)),
    size: (): Promise<number> => bounded('size', () => store.size()),
    close: (): Promise<void> => bounded('close', () => store.close()),
  };
}
