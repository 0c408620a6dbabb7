// withTimeout: a store call that does not answer in time rejects with StoreError instead of hanging.
import { MemoryStore } from '../../../src/store/memory-store';
import { StoreError, type ScoreStore } from '../../../src/store/score-store';
import { withTimeout } from '../../../src/store/timeout-store';

/** A store whose every call waits until `release()` (a stuck disk, a dead Redis). */
function stuckStore(): { store: ScoreStore; release: () => void } {
  const waiters: Array<() => void> = [];
  const stuck = <T>(value: T) => () => new Promise<T>((resolve) => waiters.push(() => resolve(value)));
  const store: ScoreStore = {
    add: stuck(1), addMany: stuck([1]), get: stuck(undefined), delete: stuck(true),
    top: stuck([]), sweep: stuck(0), size: stuck(0), close: stuck(undefined),
  };
  return { store, release: () => waiters.splice(0).forEach((w) => w()) };
}

describe('withTimeout', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test.each([
    ['add', (s: ScoreStore) => s.add('k', 1, 1000, 0)],
    ['addMany', (s: ScoreStore) => s.addMany([{ key: 'k', points: 1, halfLifeMs: 1000 }], 0)],
    ['get', (s: ScoreStore) => s.get('k', 0)],
    ['delete', (s: ScoreStore) => s.delete('k')],
    ['top', (s: ScoreStore) => s.top(10, 0)],
    ['sweep', (s: ScoreStore) => s.sweep(0)],
    ['size', (s: ScoreStore) => s.size()],
    ['close', (s: ScoreStore) => s.close()],
  ])('%s rejects with FG_ERR_STORE_UNAVAILABLE once the deadline passes', async (what, call) => {
    const { store, release } = stuckStore();
    const outcome = Promise.resolve(call(withTimeout(store, 250))).then(() => 'answered', (error: unknown) => error);
    await jest.advanceTimersByTimeAsync(249);
    let settled = false;
    void outcome.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    const error = await outcome;
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ code: 'FG_ERR_STORE_UNAVAILABLE', message: `score store: ${what} did not answer within 250 ms` });
    release();
  });

  test('answers in time pass through and leave no timer behind', async () => {
    const store = withTimeout(new MemoryStore(), 250);
    expect(await store.add('k', 2, 1000, 0)).toBe(2);
    expect(await store.get('k', 1000)).toMatchObject({ score: 1 });
    expect(jest.getTimerCount()).toBe(0);
  });

  test('scores the store has at once come back at once, with no deadline armed', () => {
    const store = withTimeout(new MemoryStore(), 250);
    expect(store.addMany([{ key: 'k', points: 2, halfLifeMs: 1000 }], 0)).toEqual([2]);
    expect(jest.getTimerCount()).toBe(0);
  });

  test('the store\'s own errors pass through unchanged', async () => {
    const store = withTimeout(new MemoryStore(), 250);
    await expect(store.add('k', 1, 0, 0)).rejects.toThrow(RangeError);
    await store.close();
    await expect(store.size()).rejects.toThrow(/memory store is closed/);
    expect(jest.getTimerCount()).toBe(0);
  });

  test('a synchronous throw inside the wrapped store becomes a rejection', async () => {
    const throwing = { ...stuckStore().store, size: () => { throw new Error('boom'); } } as ScoreStore;
    await expect(withTimeout(throwing, 250).size()).rejects.toThrow('boom');
  });

  test.each([0, -1, Number.NaN])('a timeout of %p ms is refused', (ms) => {
    expect(() => withTimeout(new MemoryStore(), ms)).toThrow(RangeError);
  });
});
