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

test('seeding from the store at start keeps scores taken since', () => {
  const hot = new HotKeys();
  hot.scored([scored('ip:a', 50)], 0);
  hot.seed([{ key: 'ip:a', score: 5, halfLifeMs: 60_000 }, { key: 'ip:b', score: 30, halfLifeMs: 60_000 }], 0);
  expect(hot.top(10, 0)).toEqual([{ key: 'ip:a', score: 50 }, { key: 'ip:b', score: 30 }]);
});
