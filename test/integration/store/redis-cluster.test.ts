// RedisStore on a real three-primary Redis Cluster on loopback: the shared behaviour suite, slots and scans across primaries.
import Redis from 'ioredis';
import { RedisStore, type RedisStoreOptions } from '../../../src/store/redis-store';
import { killAllTracked } from '../../support/processes';
import { startRedisCluster, type RedisClusterRig } from '../../support/redis-rig';
import { describeScoreStore } from '../../unit/store/store-behaviour';

jest.setTimeout(30_000);

const H = 60_000;
const T0 = 1_700_000_000_000;

let cluster: RedisClusterRig;
let admins: Redis[] = [];
let prefixes = 0;

beforeAll(async () => {
  cluster = await startRedisCluster(3);
  admins = cluster.nodes.map((node) => new Redis(node.port, '127.0.0.1'));
});
afterAll(async () => {
  for (const admin of admins) admin.disconnect();
  await cluster?.destroy();
  await killAllTracked();
});

/** Only one seed node is named: the store discovers the other primaries itself. */
function options(): RedisStoreOptions {
  return { clusterNodes: [cluster.urls[1]!], keyPrefix: `c${++prefixes}:`, connectTimeoutMs: 5000, commandTimeoutMs: 2000 };
}

async function flushAll(): Promise<void> {
  await Promise.all(admins.map((admin) => admin.flushall()));
}

describeScoreStore('RedisStore on a 3-primary Cluster', async () => ({ store: await RedisStore.connect(options()), cleanup: flushAll }));

describe('RedisStore on a Cluster', () => {
  let store: RedisStore;
  beforeEach(async () => {
    store = await RedisStore.connect(options());
  });
  afterEach(async () => {
    await store.close();
    await flushAll();
  });

  test('keys spread over all three primaries, each hash in the slot of its {key} tag; top() and size() see them all', async () => {
    const keys = Array.from({ length: 300 }, (_, i) => `ip:198.51.100.${i}`);
    await store.addMany(keys.map((key, i) => ({ key, points: i + 1, halfLifeMs: H })), T0);
    const perPrimary = await Promise.all(admins.map((admin) => admin.dbsize()));
    expect(perPrimary.reduce((a, b) => a + b, 0)).toBe(300);
    for (const count of perPrimary) expect(count).toBeGreaterThan(50);
    const slotOfKey = await admins[0]!.call('CLUSTER', 'KEYSLOT', 'ip:198.51.100.7');
    expect(await admins[0]!.call('CLUSTER', 'KEYSLOT', store.redisKey('ip:198.51.100.7'))).toBe(slotOfKey);
    expect((await store.top(3, T0)).map((r) => r.score)).toEqual([300, 299, 298]);
    expect(await store.size()).toBe(300);
  });

  test('one event\'s keys land in different slots and still update atomically each (no cross-slot script)', async () => {
    const event = [
      { key: 'ip:192.0.2.1', points: 1, halfLifeMs: H },
      { key: 'sender:a@example.org', points: 1, halfLifeMs: H },
      { key: 'ip+sender:192.0.2.1|a@example.org', points: 1, halfLifeMs: H },
    ];
    const slots = await Promise.all(event.map(({ key }) => admins[0]!.call('CLUSTER', 'KEYSLOT', store.redisKey(key))));
    expect(new Set(slots).size).toBe(3);
    await Promise.all(Array.from({ length: 200 }, () => store.addMany(event, T0)));
    for (const { key } of event) expect((await store.get(key, T0))?.score).toBe(200);
  });
});
