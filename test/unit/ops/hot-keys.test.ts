// HotKeys: the latest score of each key scored, decayed when read, bounded by dropping the coldest.
import { HotKeys } from '../../../src/ops/hot-keys';

const scored = (key: string, score: number, halfLifeMs = 60_000) => ({ update: { key, points: 1, halfLifeMs, keyClass: key.split(':')[0]!, rules: [] }, score });

test('the latest score of a key counts, decayed by its half-life to the time it is read', () => {
  const hot = new HotKeys();
  hot.scored([scored('ip:a', 10), scored('sender:x', 4, 1000)], 0);
  hot.scored([scored('ip:a', 12)], 1000);
  expect(hot.top(10, 1000)).toEqual([{ key: 'ip:a', score: 12 }, { key: 'sender:x', score: 2 }]);
  expect(hot.top(10, 61_000, 'ip:')).toEqual([{ key: 'ip:a', score: 6 }]);
  hot.forget('ip:a');
  expect(hot.top(10, 61_000, 'ip:')).toEqual([]);
});

test('at twice the capacity the coldest keys go, the hottest stay', () => {
  const hot = new HotKeys(4);
  hot.scored([scored('ip:top', 1000)], 0);
  for (let i = 0; i < 100; i++) hot.scored([scored(`ip:${i}`, i)], 0);
  const kept = hot.top(100, 0);
  expect(kept.length).toBeLessThanOrEqual(8);
  expect(kept[0]).toEqual({ key: 'ip:top', score: 1000 });
  expect(kept.map((k) => k.key)).toContain('ip:99');
});

test('keys with equal scores are dropped down to the capacity too, and one pruning makes room for as many new keys', () => {
  // A flood of new clients: every key has the same score. Keeping every key tied with the lowest kept
  // score would keep them all, and then prune again at each new key.
  const hot = new HotKeys(4);
  for (let i = 0; i <= 8; i++) hot.scored([scored(`ip:${i}`, 2)], 0);
  expect(hot.top(100, 0)).toHaveLength(4);
  hot.scored([scored('ip:hot', 5), scored('ip:warm', 3)], 0);
  const kept = hot.top(100, 0);
  expect(kept).toHaveLength(6);
  expect(kept.slice(0, 2)).toEqual([{ key: 'ip:hot', score: 5 }, { key: 'ip:warm', score: 3 }]);
  for (let i = 9; i < 12; i++) hot.scored([scored(`ip:${i}`, 1)], 0);
  // 9 keys: pruned to the 4 highest, the two above and two of the ties at 2 (never the 1s).
  expect(hot.top(100, 0).map((k) => k.score)).toEqual([5, 3, 2, 2]);
});

test('seeding from the store at start keeps scores taken since', () => {
  const hot = new HotKeys();
  hot.scored([scored('ip:a', 50)], 0);
  hot.seed([{ key: 'ip:a', score: 5, halfLifeMs: 60_000 }, { key: 'ip:b', score: 30, halfLifeMs: 60_000 }], 0);
  expect(hot.top(10, 0)).toEqual([{ key: 'ip:a', score: 50 }, { key: 'ip:b', score: 30 }]);
});
