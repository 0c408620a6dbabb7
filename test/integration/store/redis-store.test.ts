// RedisStore on a real redis-server: the shared behaviour suite, the key layout, parity with MemoryStore, scripts and ACLs.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import Redis from 'ioredis';
import { MemoryStore } from '../../../src/store/memory-store';
import { RedisStore, type RedisStoreOptions } from '../../../src/store/redis-store';
import { StoreError } from '../../../src/store/score-store';
import { killAllTracked } from '../../support/processes';
import { startRedis, startSentinel, tlsFiles, type RedisServer } from '../../support/redis-rig';
import { describeScoreStore } from '../../unit/store/store-behaviour';

const H = 60_000;
const T0 = 1_700_000_000_000;

let server: RedisServer;
let admin: Redis;
let prefixes = 0;

beforeAll(async () => {
  server = await startRedis();
  admin = new Redis(server.port, '127.0.0.1');
});
afterAll(async () => {
  admin?.disconnect();
  await server?.destroy();
  await killAllTracked();
});

function options(extra: Partial<RedisStoreOptions> = {}): RedisStoreOptions {
  // A prefix per store: no test sees another's keys, and none needs the server emptied first.
  return { url: server.url, keyPrefix: `t${++prefixes}:`, connectTimeoutMs: 2000, commandTimeoutMs: 2000, ...extra };
}

describeScoreStore('RedisStore', async () => ({ store: await RedisStore.connect(options()), cleanup: async () => void (await admin.flushall()) }));

describe('RedisStore layout and scripts', () => {
  let store: RedisStore;
  beforeEach(async () => {
    store = await RedisStore.connect(options({ keyPrefix: 'fg:' }));
  });
  afterEach(async () => {
    await store.close();
    await admin.flushall();
  });

  test('a score is one hash <prefix>{<key>} whose Redis expiry is its own, seen from the caller\'s clock', async () => {
    await store.add('ip:192.0.2.1', 8, H, T0);
    expect(await admin.hgetall('fg:{ip:192.0.2.1}')).toEqual({ s: '8', t: String(T0), h: String(H), e: String(Math.ceil(T0 + H * Math.log2(800))) });
    // The test's clock is in 2023: the PEXPIREAT is translated to the server's clock, not taken literally.
    const ttl = await admin.pttl('fg:{ip:192.0.2.1}');
    expect(ttl).toBeGreaterThan(H * Math.log2(800) - 2000);
    expect(ttl).toBeLessThanOrEqual(Math.ceil(H * Math.log2(800)));
  });

  test('Redis itself drops a score when its expiry passes', async () => {
    await store.add('k', 0.02, 100, Date.now()); // one half-life to EPSILON: gone after ~100 ms
    expect(await admin.exists('fg:{k}')).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(await admin.exists('fg:{k}')).toBe(0);
  });

  test('keys with braces and glob characters round-trip through top() and its prefix', async () => {
    const keys = ['ip+sender:192.0.2.1|a}b@example.org', 'sender:{x}@example.org', 'sender:*?[a]\\@example.org', 'sender:'];
    for (const [i, key] of keys.entries()) await store.add(key, i + 1, H, T0);
    await store.add('senderx:1', 10, H, T0);
    expect((await store.top(10, T0, 'sender:')).map((r) => r.key)).toEqual([keys[3], keys[2], keys[1]]);
    expect((await store.top(10, T0, 'sender:*')).map((r) => r.key)).toEqual([keys[2]]);
    expect(await store.get(keys[0]!, T0)).toMatchObject({ score: 1 });
  });

  test('a key prefix with a brace is refused (it would become the hash tag)', () => {
    expect(() => RedisStore.open(options({ keyPrefix: 'a{b}:' }))).toThrow(RangeError);
  });

  test('the update script is loaded once and then run by EVALSHA', async () => {
    await admin.config('RESETSTAT');
    await Promise.all(Array.from({ length: 200 }, (_, i) => store.add(`ip:10.0.0.${i % 7}`, 1, H, T0)));
    const stats = await admin.info('commandstats');
    expect(calls(stats, 'evalsha')).toBeGreaterThanOrEqual(199);
    expect(calls(stats, 'eval')).toBeLessThanOrEqual(1);
  });

  test('SCRIPT FLUSH in the middle of a burst loses no update: NOSCRIPT re-sends the script', async () => {
    await store.add('k', 1, H, T0);
    await admin.config('RESETSTAT');
    const burst = Array.from({ length: 2000 }, (_, i) => (i === 700 ? admin.script('FLUSH').then(() => 0) : store.add('k', 1, H, T0)));
    await Promise.all(burst);
    expect((await store.get('k', T0))?.score).toBe(2000);
    expect(await admin.info('errorstats')).toMatch(/errorstat_NOSCRIPT:count=[1-9]/); // the flush did bite
    await admin.script('FLUSH');
    expect(await store.add('k', 1, H, T0)).toBe(2001);
  });
});

describe('RedisStore agrees with MemoryStore', () => {
  // Random operations on both stores; results must match to the last bit but where Lua's pow and log
  // (C's libm) and V8's differ in the last place: scores to 1e-12 relative, expiries to 1 ms.
  const op = fc.oneof(
    fc.record({ kind: fc.constant('add' as const), key: fc.constantFrom('a', 'b', 'c'), points: fc.oneof(fc.integer({ min: -20, max: 40 }), fc.double({ min: -5, max: 5, noNaN: true })), half: fc.constantFrom(1000, 60_000, 3_600_000), cap: fc.option(fc.integer({ min: 1, max: 60 }), { nil: undefined }), dt: fc.integer({ min: -5000, max: 200_000 }) }),
    fc.record({ kind: fc.constant('get' as const), key: fc.constantFrom('a', 'b', 'c'), dt: fc.integer({ min: -5000, max: 200_000 }) }),
    fc.record({ kind: fc.constant('delete' as const), key: fc.constantFrom('a', 'b', 'c'), dt: fc.constant(0) }),
  );

  test('on random sequences of add, get and delete with moving (and backward) time', async () => {
    const redis = await RedisStore.connect(options());
    try {
      await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
        const memory = new MemoryStore();
        await Promise.all(['a', 'b', 'c'].map((k) => redis.delete(k)));
        let now = T0;
        for (const o of ops) {
          now = Math.max(0, now + o.dt);
          const [m, r] = o.kind === 'add'
            ? [await memory.add(o.key, o.points, o.half, now, o.cap), await redis.add(o.key, o.points, o.half, now, o.cap)]
            : o.kind === 'get' ? [await memory.get(o.key, now), await redis.get(o.key, now)] : [await memory.delete(o.key), await redis.delete(o.key)];
          expectSame(r, m);
        }
      }), { numRuns: 60 });
    } finally {
      await redis.close();
    }
  });
});

describe('RedisStore connection', () => {
  test('an ACL user limited to its key prefix works; a wrong password is a StoreError at connect', async () => {
    await admin.call('ACL', 'SETUSER', 'floodgate', 'reset', 'on', '>s3cret', '~acl:*', '+@all');
    const store = await RedisStore.connect(options({ username: 'floodgate', password: 's3cret', keyPrefix: 'acl:' }));
    expect(await store.add('ip:192.0.2.1', 2, H, T0)).toBe(2);
    expect((await store.top(5, T0)).map((r) => r.key)).toEqual(['ip:192.0.2.1']);
    await store.close();
    const wrong = RedisStore.connect(options({ username: 'floodgate', password: 'wrong', connectTimeoutMs: 500 }));
    await expect(wrong).rejects.toBeInstanceOf(StoreError);
    await expect(wrong).rejects.toThrow(/WRONGPASS/);
    await admin.flushall();
  });

  test('through Redis Sentinel: the store asks the sentinel for the primary and scores there', async () => {
    const sentinel = await startSentinel(server);
    try {
      const store = await RedisStore.connect({ sentinel: { name: 'mymaster', nodes: [sentinel.url] }, keyPrefix: 'sentinel:', connectTimeoutMs: 5000, commandTimeoutMs: 2000 });
      expect(await store.add('ip:192.0.2.1', 3, H, T0)).toBe(3);
      await store.close();
      expect(await admin.hget('sentinel:{ip:192.0.2.1}', 's')).toBe('3');
    } finally {
      await sentinel.destroy();
      await admin.flushall();
    }
  });

  test('rediss:// with the CA given verifies the server and scores; without the CA the self-signed server is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-tls-'));
    const tls = await startRedis([], tlsFiles(dir));
    try {
      const store = await RedisStore.connect({ url: tls.url, tls: { ca: readFileSync(join(dir, 'ca.pem')) }, connectTimeoutMs: 2000, commandTimeoutMs: 2000 });
      expect(await store.add('ip:192.0.2.1', 2, H, T0)).toBe(2);
      await store.close();
      await expect(RedisStore.connect({ url: tls.url, connectTimeoutMs: 500, commandTimeoutMs: 500 })).rejects.toThrow(/not ready within 500 ms: .*(self-signed|self signed)/);
    } finally {
      await tls.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('nothing listening: connect() fails with StoreError within the connect timeout', async () => {
    const started = Date.now();
    await expect(RedisStore.connect({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 300, commandTimeoutMs: 300 })).rejects.toThrow(/not ready within 300 ms: connect ECONNREFUSED/);
    expect(Date.now() - started).toBeLessThan(1500);
  });
});

function calls(commandstats: string, command: string): number {
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(commandstats)?.[1] ?? 0);
}

function expectSame(actual: unknown, expected: unknown): void {
  if (typeof expected === 'number') {
    expect(typeof actual).toBe('number');
    expect(Math.abs((actual as number) - expected)).toBeLessThanOrEqual(Math.abs(expected) * 1e-12);
  } else if (expected !== null && typeof expected === 'object') {
    const { score, expiresAt, ...rest } = expected as { score: number; expiresAt: number };
    const got = actual as { score: number; expiresAt: number } | undefined;
    expect(got).toMatchObject(rest);
    expectSame(got!.score, score);
    expect(Math.abs(got!.expiresAt - expiresAt)).toBeLessThanOrEqual(1);
  } else {
    expect(actual).toEqual(expected);
  }
}

