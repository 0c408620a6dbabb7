// The behaviour every ScoreStore backend must show; each backend's test file registers it with a factory.
import { EPSILON, StoreError, type ScoreStore } from '../../../src/store/score-store';

export interface StoreFixture {
  store: ScoreStore;
  /** Removes what the factory made (a temp directory), after close(). */
  cleanup?: () => Promise<void>;
}

const H = 60_000; // one half-life
const T0 = 1_700_000_000_000; // a realistic epoch, so expiry padding and float precision are exercised

export function describeScoreStore(name: string, open: () => Promise<StoreFixture>): void {
  describe(`${name}: ScoreStore behaviour`, () => {
    let fixture: StoreFixture;
    let store: ScoreStore;
    beforeEach(async () => {
      fixture = await open();
      store = fixture.store;
    });
    afterEach(async () => {
      await store.close();
      await fixture.cleanup?.();
    });

    describe('decay', () => {
      test('a new key starts at its points, with its half-life and expiry recorded', async () => {
        expect(await store.add('ip:192.0.2.1', 8, H, T0)).toBe(8);
        // |8| reaches EPSILON after log2(8 / 0.01) half-lives.
        expect(await store.get('ip:192.0.2.1', T0)).toEqual({
          key: 'ip:192.0.2.1', score: 8, updatedAt: T0, halfLifeMs: H, expiresAt: Math.ceil(T0 + H * Math.log2(8 / EPSILON)),
        });
      });

      test('one half-life halves the score and two quarter it, exactly', async () => {
        await store.add('k', 8, H, T0);
        expect((await store.get('k', T0 + H))?.score).toBe(4);
        expect((await store.get('k', T0 + 2 * H))?.score).toBe(2);
        expect((await store.get('k', T0 + H / 2))?.score).toBeCloseTo(8 / Math.SQRT2, 12);
      });

      test('add decays the stored score before adding', async () => {
        await store.add('k', 8, H, T0);
        expect(await store.add('k', 1, H, T0 + H)).toBe(5);
        expect(await store.get('k', T0 + 2 * H)).toMatchObject({ score: 2.5, updatedAt: T0 + H });
      });

      test('negative scores (allow-list weights) decay towards zero the same way', async () => {
        expect(await store.add('sender:ok@example.org', -8, H, T0)).toBe(-8);
        expect((await store.get('sender:ok@example.org', T0 + H))?.score).toBe(-4);
        expect((await store.get('sender:ok@example.org', T0 + 2 * H))?.score).toBe(-2);
        expect(await store.add('sender:ok@example.org', 3, H, T0 + 2 * H)).toBe(1);
      });

      test('a negative record expires when a positive one of the same size would', async () => {
        await store.add('neg', -8, H, T0);
        await store.add('pos', 8, H, T0);
        expect((await store.get('neg', T0))?.expiresAt).toBe((await store.get('pos', T0))?.expiresAt);
      });

      test('a later add with another half-life decays the past with the old one and stores the new one', async () => {
        await store.add('k', 8, H, T0);
        expect(await store.add('k', 0, 2 * H, T0 + H)).toBe(4);
        expect(await store.get('k', T0 + 3 * H)).toMatchObject({ score: 2, halfLifeMs: 2 * H });
      });

      test('time going backwards decays nothing and never un-decays a score', async () => {
        await store.add('k', 8, H, T0 + H);
        expect(await store.add('k', 1, H, T0)).toBe(9);
        expect(await store.get('k', T0 + H)).toMatchObject({ score: 9, updatedAt: T0 + H });
      });
    });

    describe('expiry and sweep', () => {
      test('a record reads as absent from its expiry on, and an add then starts from zero', async () => {
        await store.add('k', 0.08, 1000, T0); // log2(0.08 / 0.01) = 3 half-lives
        expect((await store.get('k', T0))?.expiresAt).toBe(T0 + 3000);
        expect(await store.get('k', T0 + 2999)).toBeDefined();
        expect(await store.get('k', T0 + 3000)).toBeUndefined();
        expect(await store.add('k', 1, 1000, T0 + 3000)).toBe(1);
        expect(await store.size()).toBe(1);
      });

      test('sweep deletes exactly the records expired at now and reports how many', async () => {
        await store.add('short', 1, 1000, T0); // expires after log2(100) ≈ 6.64 half-lives
        await store.add('long', 1, H, T0);
        await store.add('also-short', 5, 1000, T0);
        expect(await store.size()).toBe(3);
        expect(await store.sweep(T0 + 6000)).toBe(0);
        expect(await store.sweep(T0 + 10_000)).toBe(2);
        expect(await store.size()).toBe(1);
        expect(await store.get('long', T0 + 10_000)).toBeDefined();
        expect(await store.sweep(T0 + 10_000)).toBe(0);
      });

      test('an expired but unswept record still counts in size() until swept', async () => {
        await store.add('k', 1, 1000, T0);
        expect(await store.get('k', T0 + 60_000)).toBeUndefined();
        expect(await store.size()).toBe(1);
        expect(await store.sweep(T0 + 60_000)).toBe(1);
        expect(await store.size()).toBe(0);
      });

      test('sweep keeps a record that a later add refreshed past the old expiry', async () => {
        await store.add('k', 1, 1000, T0);
        const first = (await store.get('k', T0))!.expiresAt;
        await store.add('k', 1, 1000, first - 1);
        expect(await store.sweep(first)).toBe(0);
        expect(await store.get('k', first)).toBeDefined();
        const second = (await store.get('k', first))!.expiresAt;
        expect(await store.sweep(second)).toBe(1);
        expect(await store.size()).toBe(0);
      });

      test('a sweep racing with adds that refresh its keys never deletes a refreshed key', async () => {
        const keys = Array.from({ length: 3000 }, (_, i) => `ip:203.0.113.${i}`);
        await store.addMany(keys.map((key) => ({ key, points: 1, halfLifeMs: 1000 })), T0);
        const expiry = (await store.get(keys[0]!, T0))!.expiresAt;
        const refreshed = keys.filter((_, i) => i % 3 === 0);
        // Launched together: each refresh lands either before the sweep reaches its key or after it deleted it.
        await Promise.all([store.sweep(expiry), ...refreshed.map((key) => store.add(key, 1, 1000, expiry - 1))]);
        expect(await store.size()).toBe(refreshed.length);
        for (const key of refreshed) expect(await store.get(key, expiry)).toBeDefined();
      });

      test('an update that leaves |score| below EPSILON deletes the record', async () => {
        await store.add('k', 5, H, T0);
        expect(await store.add('k', -5, H, T0)).toBe(0);
        expect(await store.get('k', T0)).toBeUndefined();
        expect(await store.size()).toBe(0);
        expect(await store.add('tiny', EPSILON / 2, H, T0)).toBe(EPSILON / 2);
        expect(await store.size()).toBe(0);
      });
    });

    describe('cap (refused traffic must not inflate its own score)', () => {
      test('at the cap nothing is added and nothing is written', async () => {
        await store.add('k', 10, H, T0);
        expect(await store.add('k', 5, H, T0, 10)).toBe(10);
        expect(await store.get('k', T0 + H)).toMatchObject({ score: 5, updatedAt: T0 });
      });

      test('above the cap (after decay) nothing is added', async () => {
        await store.add('k', 40, H, T0);
        expect(await store.add('k', 5, H, T0 + H, 10)).toBe(20);
        expect(await store.add('k', 5, H, T0 + 2 * H, 10)).toBe(10);
        expect((await store.get('k', T0 + 2 * H))?.score).toBe(10);
      });

      test('below the cap the points are added in full, even past the cap', async () => {
        await store.add('k', 9, H, T0);
        expect(await store.add('k', 5, H, T0, 10)).toBe(14);
        expect(await store.add('k', 5, H, T0, 10)).toBe(14);
      });

      test('a decayed score under the cap takes points again (a retry after the window passes)', async () => {
        await store.add('k', 12, H, T0);
        expect(await store.add('k', 1, H, T0 + H, 10)).toBe(7);
      });

      test('an absent key is at 0: a positive cap lets its first points in', async () => {
        expect(await store.add('k', 3, H, T0, 1)).toBe(3);
      });
    });

    describe('delete', () => {
      test('delete removes a key and says whether it existed', async () => {
        await store.add('k', 3, H, T0);
        await store.add('other', 3, H, T0);
        expect(await store.delete('k')).toBe(true);
        expect(await store.delete('k')).toBe(false);
        expect(await store.get('k', T0)).toBeUndefined();
        expect(await store.size()).toBe(1);
        expect(await store.add('k', 1, H, T0)).toBe(1);
      });

      test('a deleted key is not swept again (its expiry entry went with it)', async () => {
        await store.add('k', 3, 1000, T0);
        await store.delete('k');
        expect(await store.sweep(T0 + 100 * 1000)).toBe(0);
      });
    });

    describe('top', () => {
      beforeEach(async () => {
        await store.add('ip:192.0.2.1', 30, H, T0);
        await store.add('ip:192.0.2.2', 50, H, T0);
        await store.add('ip:192.0.2.3', 10, 10 * H, T0);
        await store.add('ip+sender:192.0.2.9|a@example.org', 99, H, T0);
        await store.add('sender:a@example.org', 70, H, T0);
        await store.add('sender:ok@example.org', -5, H, T0);
      });

      test('highest first, at most n', async () => {
        expect((await store.top(3, T0)).map((r) => [r.key, r.score])).toEqual([
          ['ip+sender:192.0.2.9|a@example.org', 99], ['sender:a@example.org', 70], ['ip:192.0.2.2', 50],
        ]);
        expect(await store.top(0, T0)).toEqual([]);
        expect((await store.top(100, T0)).map((r) => r.key).at(-1)).toBe('sender:ok@example.org');
      });

      test('only keys under the prefix (ip: is not ip+sender:)', async () => {
        expect((await store.top(10, T0, 'ip:')).map((r) => r.key)).toEqual(['ip:192.0.2.2', 'ip:192.0.2.1', 'ip:192.0.2.3']);
        expect(await store.top(10, T0, 'nothing:')).toEqual([]);
      });

      test('ranks decayed scores at now, each key with its own half-life, and leaves out expired keys', async () => {
        // After 3 half-lives: .2 at 50/8 = 6.25, .3 (10x slower decay) still ≈ 8.1, .1 at 3.75.
        expect((await store.top(3, T0 + 3 * H, 'ip:')).map((r) => r.key)).toEqual(['ip:192.0.2.3', 'ip:192.0.2.2', 'ip:192.0.2.1']);
        expect((await store.top(10, T0 + 14 * H, 'ip:')).map((r) => r.key)).toEqual(['ip:192.0.2.3']);
      });
    });

    describe('atomicity and addMany', () => {
      test('1000 parallel adds of 1 point on one key sum to exactly 1000, each seeing its own total', async () => {
        const results = await Promise.all(Array.from({ length: 1000 }, () => store.add('ip:198.51.100.7', 1, H, T0)));
        expect((await store.get('ip:198.51.100.7', T0))?.score).toBe(1000);
        expect([...results].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
      });

      test('parallel capped adds stop exactly at the cap, the rest refused', async () => {
        const results = await Promise.all(Array.from({ length: 200 }, () => store.add('k', 1, H, T0, 50)));
        expect((await store.get('k', T0))?.score).toBe(50);
        expect(results.filter((r) => r === 50)).toHaveLength(151);
      });

      test('addMany applies each update with add semantics and returns results in order', async () => {
        await store.add('ip:192.0.2.1', 4, H, T0 - H);
        await store.add('sender:a@example.org', 20, H, T0);
        const results = await store.addMany([
          { key: 'ip:192.0.2.1', points: 1, halfLifeMs: H },
          { key: 'sender:a@example.org', points: 5, halfLifeMs: H, cap: 10 },
          { key: 'ip+sender:192.0.2.1|a@example.org', points: 2, halfLifeMs: 2 * H },
        ], T0);
        expect(results).toEqual([3, 20, 2]);
        expect(await store.get('ip+sender:192.0.2.1|a@example.org', T0)).toMatchObject({ score: 2, halfLifeMs: 2 * H });
        expect(await store.size()).toBe(3);
      });

      test('a key named twice in one addMany sees its first update', async () => {
        expect(await store.addMany([
          { key: 'k', points: 6, halfLifeMs: H },
          { key: 'k', points: 6, halfLifeMs: H, cap: 5 },
          { key: 'j', points: 1, halfLifeMs: H },
          { key: 'k', points: -6, halfLifeMs: H },
        ], T0)).toEqual([6, 6, 1, 0]);
        expect(await store.get('k', T0)).toBeUndefined();
        expect(await store.size()).toBe(1);
      });

      test('parallel addMany calls over overlapping keys lose no points', async () => {
        await Promise.all(Array.from({ length: 300 }, (_, i) => store.addMany(
          i % 2 === 0
            ? [{ key: 'a', points: 1, halfLifeMs: H }, { key: 'b', points: 1, halfLifeMs: H }]
            : [{ key: 'b', points: 1, halfLifeMs: H }, { key: 'c', points: 1, halfLifeMs: H }],
          T0,
        )));
        expect((await store.top(3, T0)).map((r) => [r.key, r.score])).toEqual([['b', 300], ['a', 150], ['c', 150]]);
      });

      test('an empty addMany is a no-op', async () => {
        expect(await store.addMany([], T0)).toEqual([]);
      });
    });

    describe('arguments and lifecycle', () => {
      test.each([
        ['a zero half-life', () => store.add('k', 1, 0, T0)],
        ['a NaN point count', () => store.add('k', Number.NaN, H, T0)],
        ['an infinite cap', () => store.add('k', 1, H, T0, Number.POSITIVE_INFINITY)],
        ['a negative now', () => store.get('k', -1)],
        ['an empty key', () => store.add('', 1, H, T0)],
        ['a fractional top(n)', () => store.top(1.5, T0)],
      ])('%s is a RangeError (a bug), not a StoreError (an outage)', async (_what, call) => {
        await expect(call()).rejects.toThrow(RangeError);
        expect(await store.size()).toBe(0);
      });

      test('calls after close reject with StoreError FG_ERR_STORE_UNAVAILABLE', async () => {
        await store.add('k', 1, H, T0);
        await store.close();
        await expect(store.add('k', 1, H, T0)).rejects.toBeInstanceOf(StoreError);
        await expect(store.get('k', T0)).rejects.toMatchObject({ code: 'FG_ERR_STORE_UNAVAILABLE' });
        await expect(store.size()).rejects.toBeInstanceOf(StoreError);
      });
    });
  });
}
