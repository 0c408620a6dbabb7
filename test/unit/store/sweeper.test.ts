// Sweeper: sweeps on its interval with the injected clock, never overlaps itself, reports errors.
import { MemoryStore } from '../../../src/store/memory-store';
import { Sweeper } from '../../../src/store/sweeper';

describe('Sweeper', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test('sweeps every interval at the clock\'s time and reports what it removed', async () => {
    const store = new MemoryStore();
    await store.add('short', 1, 1000, 0); // expires at 6644
    await store.add('long', 1, 1_000_000, 0);
    let now = 0;
    const removed: number[] = [];
    const sweeper = new Sweeper(store, { intervalMs: 5000, clock: () => now, onSweep: (n) => removed.push(n), onError: (e) => { throw e; } });
    sweeper.start();
    now = 5000;
    await jest.advanceTimersByTimeAsync(5000);
    now = 10_000;
    await jest.advanceTimersByTimeAsync(5000);
    expect(removed).toEqual([0, 1]);
    expect(await store.size()).toBe(1);
    await sweeper.stop();
    expect(jest.getTimerCount()).toBe(0);
  });

  test('a slow sweep is joined, not run twice at once, and stop() waits for it', async () => {
    let finish!: () => void;
    let calls = 0;
    const slow = { sweep: () => { calls += 1; return new Promise<number>((resolve) => { finish = () => resolve(3); }); } };
    const removed: number[] = [];
    const sweeper = new Sweeper(slow, { intervalMs: 100, onSweep: (n) => removed.push(n), onError: (e) => { throw e; } });
    sweeper.start();
    await jest.advanceTimersByTimeAsync(350);
    expect(calls).toBe(1);
    const stopped = sweeper.stop();
    finish();
    await stopped;
    expect(removed).toEqual([3]);
  });

  test('a failing sweep goes to onError and the next tick sweeps again', async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const failing = { sweep: async () => { calls += 1; throw new Error('disk gone'); } };
    const sweeper = new Sweeper(failing, { intervalMs: 100, onError: (e) => errors.push(e) });
    sweeper.start();
    await jest.advanceTimersByTimeAsync(200);
    expect(calls).toBe(2);
    expect(errors.map((e) => (e as Error).message)).toEqual(['disk gone', 'disk gone']);
    await sweeper.stop();
  });

  test('its timer does not keep the process alive', () => {
    jest.useRealTimers();
    const sweeper = new Sweeper(new MemoryStore(), { intervalMs: 60_000, onError: () => undefined });
    const spy = jest.spyOn(global, 'setInterval');
    sweeper.start();
    const timer = spy.mock.results[0]!.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    spy.mockRestore();
    void sweeper.stop();
  });

  test('a non-positive interval is refused', () => {
    expect(() => new Sweeper(new MemoryStore(), { intervalMs: 0, onError: () => undefined })).toThrow(RangeError);
  });
});
