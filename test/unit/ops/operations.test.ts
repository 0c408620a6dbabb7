// Operations: where a score stands among its thresholds, readiness against a failing or hanging store,
// top keys from the hot keys, resets.
import { Activity } from '../../../src/ops/activity';
import { MeasuredStore } from '../../../src/ops/measured-store';
import { HotKeys } from '../../../src/ops/hot-keys';
import { FloodgateMetrics } from '../../../src/ops/metrics';
import { Operations, positionOf } from '../../../src/ops/operations';
import { parseRuleSet } from '../../../src/rules/loader';
import { MemoryStore } from '../../../src/store/memory-store';
import type { ScoreStore } from '../../../src/store/score-store';
import { StoreError } from '../../../src/store/score-store';

const RULES = `
keys:
  ip: { half_life: 1h }
rules:
  - name: r
    on: rcpt
    add: { ip: 1 }
thresholds:
  ip:
    - below: -5
      ok: true
    - above: 40
      delay: 1s
    - above: 60
      tempfail: true
    - above: 50
      reject: true
      observe: true
`;
const ruleSet = parseRuleSet(RULES, 'r.yml');
const thresholds = ruleSet.keyClasses.get('ip')!.thresholds;

test.each([
  [10, { next: { above: 40, answer: 'delay', pointsToGo: 30 } }],
  [40, { next: { above: 40, answer: 'delay', pointsToGo: 0 } }],
  [45.5, { current: { above: 40, answer: 'delay' }, next: { above: 60, answer: 'tempfail', pointsToGo: 14.5 } }],
  [61, { current: { above: 60, answer: 'tempfail' } }],
  [-6, { current: { below: -5, answer: 'ok' }, next: { above: 40, answer: 'delay', pointsToGo: 46 } }],
])('a score of %p: %j (observe-only ranges left out)', (score, position) => {
  expect(positionOf(thresholds, score)).toEqual(position);
});

function operations(store: ScoreStore, now = () => 1_000_000, hotKeys = new HotKeys()) {
  const metrics = new FloodgateMetrics({ mtaConnections: () => 0, delaying: () => 0, trackingQueue: () => 0 }, '0.0.0');
  const resets: string[] = [];
  const ops = new Operations({
    version: '0.0.0',
    startedAt: 0,
    mode: () => 'enforce',
    rules: () => ({ ruleSet, sha256: 'x', loadedAt: 0 }),
    store: new MeasuredStore(store, 'memory', metrics),
    hotKeys,
    activity: new Activity(now),
    metrics,
    mta: () => ({ open: 0, delaying: 0 }),
    mtaTotals: () => ({ total: 0, refused: 0 }),
    dns: () => [],
    readyTimeoutMs: 50,
    onReset: (key, existed, by) => resets.push(`${key} ${existed} ${by}`),
    now,
  });
  return { ops, resets };
}

test('ready when the store answers; not ready, with the reason, when it fails or hangs', async () => {
  expect(await operations(new MemoryStore()).ops.ready()).toEqual({ ready: true });
  const failing = Object.assign(Object.create(new MemoryStore()) as MemoryStore, { get: () => Promise.reject(new StoreError('connection refused')) });
  expect(await operations(failing).ops.ready()).toEqual({ ready: false, reason: 'the score store failed: connection refused' });
  const hanging = Object.assign(Object.create(new MemoryStore()) as MemoryStore, { get: () => new Promise(() => undefined) });
  expect(await operations(hanging).ops.ready()).toEqual({ ready: false, reason: 'the score store did not answer within 50 ms' });
});

test('top keys come from the hot keys, decayed to now; a reset forgets the key and is reported', async () => {
  const store = new MemoryStore();
  let now = 1_000_000;
  const hotKeys = new HotKeys(10);
  const { ops, resets } = operations(store, () => now, hotKeys);
  const update = (key: string, points: number) => ({ key, points, halfLifeMs: 3_600_000, keyClass: 'ip', rules: ['r'] });
  hotKeys.scored([{ update: update('ip:192.0.2.1', 45), score: 45 }, { update: update('ip:192.0.2.2', 3), score: 3 }], now);
  await store.add('ip:192.0.2.1', 45, 3_600_000, now);
  expect(ops.top('ip', 1)).toEqual([{ key: 'ip:192.0.2.1', keyClass: 'ip', score: 45, position: { current: { above: 40, answer: 'delay' }, next: { above: 60, answer: 'tempfail', pointsToGo: 15 } } }]);
  now += 3_600_000;
  expect(ops.top('ip', 5).map((k) => [k.key, k.score])).toEqual([['ip:192.0.2.1', 22.5], ['ip:192.0.2.2', 1.5]]);
  expect(ops.top('sender', 5)).toEqual([]);
  expect(await ops.reset('ip:192.0.2.1', 'pm')).toBe(true);
  expect(resets).toEqual(['ip:192.0.2.1 true pm']);
  expect(ops.top('ip', 5).map((k) => k.key)).toEqual(['ip:192.0.2.2']);
  expect(await ops.key('ip:192.0.2.1')).toBeUndefined();
});
