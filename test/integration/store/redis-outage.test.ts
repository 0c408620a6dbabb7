// RedisStore when redis-server dies, hangs and comes back: bounded answers, no queued replay, scripts reloaded, local fallback.
import { FallbackStore } from '../../../src/store/fallback-store';
import { RedisStore } from '../../../src/store/redis-store';
import { StoreError, type ScoreStore } from '../../../src/store/score-store';
import { withTimeout } from '../../../src/store/timeout-store';
import { killAllTracked, waitFor } from '../../support/processes';
import { startRedis, type RedisServer } from '../../support/redis-rig';

jest.setTimeout(30_000);

const H = 3_600_000;
const TIMEOUT_MS = 400;

let server: RedisServer;
let redis: RedisStore;
let store: ScoreStore;

beforeEach(async () => {
  server = await startRedis();
  redis = await RedisStore.connect({ url: server.url, connectTimeoutMs: 1000, commandTimeoutMs: TIMEOUT_MS });
  // As the service opens it: the store timeout around the Redis command timeout.
  store = withTimeout(redis, TIMEOUT_MS);
});
afterEach(async () => {
  await store.close().catch(() => undefined);
  await server.destroy();
});
afterAll(() => killAllTracked());

/** How long a call takes to settle, and how. */
async function timed<T>(call: () => Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = Date.now();
  try {
    return { ms: Date.now() - started, value: await call() };
  } catch (error) {
    return { ms: Date.now() - started, error };
  }
}

async function scoredAgain(): Promise<void> {
  await waitFor(async () => (await store.add('probe', 1, H, Date.now())) > 0, 5000, 'Redis to take scores again');
}

test('stopped mid-flood: every call fails fast with StoreError, nothing is queued, and scoring resumes after a restart', async () => {
  const flood = (n: number) => Promise.allSettled(Array.from({ length: n }, () => store.add('ip:192.0.2.1', 1, H, Date.now())));
  expect((await flood(100)).every((r) => r.status === 'fulfilled')).toBe(true);
  await server.stop();
  const down = await timed(() => flood(5000));
  const results = down.value!;
  expect(results.every((r) => r.status === 'rejected' && r.reason instanceof StoreError)).toBe(true);
  expect(String((results[4999] as PromiseRejectedResult).reason.message)).toMatch(/unreachable|ECONNREFUSED|closed/);
  expect(down.ms).toBeLessThan(TIMEOUT_MS); // no waiting for a connection that is not there

  await server.restart();
  await scoredAgain();
  // A fresh server (no persistence): had the 5000 refused adds been queued, they would land now.
  expect(await store.add('ip:192.0.2.1', 1, H, Date.now())).toBe(1);
  // The new server had no scripts: the first call on the new connection loaded it (EVAL), then EVALSHA.
  const stats = await server.cli('info', 'commandstats');
  expect(stats).toMatch(/cmdstat_eval:calls=[1-9]/);
});

test('hung (SIGSTOP): calls answer StoreError within the store timeout; after SIGCONT scoring goes on', async () => {
  const t = Date.now();
  await store.add('k', 1, H, t);
  server.pause();
  const hung = await Promise.all(Array.from({ length: 50 }, () => timed(() => store.add('k', 1, H, t))));
  for (const call of hung) {
    expect(call.error).toBeInstanceOf(StoreError);
    expect(call.ms).toBeLessThan(TIMEOUT_MS + 300);
  }
  server.resume();
  // Commands already written to the socket ran when Redis woke up: a timed-out add may still count.
  const score = await waitFor(async () => (await store.get('k', t))?.score, 5000, 'a read after SIGCONT');
  expect(score).toBeGreaterThanOrEqual(1);
  expect(score).toBeLessThanOrEqual(51);
  expect(await store.add('k', 1, H, t)).toBe(score + 1);
});

test('on_store_error: local counts in process while Redis is down, logs each change once, and goes back', async () => {
  const events: string[] = [];
  const fallback = new FallbackStore(store, {
    retryIntervalMs: 100,
    onFallback: (error) => events.push(`fallback ${error.code}`),
    onRecover: () => events.push('recover'),
  });
  store = fallback; // closed by afterEach
  const t = Date.now();
  for (let i = 1; i <= 10; i++) expect(await fallback.add('ip:192.0.2.9', 1, H, t)).toBeCloseTo(i, 9);
  await server.stop();
  // Local counting starts from zero: this host limits its own share until Redis is back.
  const local: number[] = [];
  for (let i = 0; i < 30; i++) local.push(await fallback.add('ip:192.0.2.9', 1, H, t));
  expect(local).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  expect(fallback.isLocal).toBe(true);

  await server.restart();
  await waitFor(async () => {
    await fallback.add('other', 1, H, t);
    return !fallback.isLocal;
  }, 5000, 'the fallback to go back to Redis');
  expect(await fallback.add('ip:192.0.2.9', 1, H, t)).toBe(1); // Redis' view (a fresh server), not the local count
  expect(events).toEqual(['fallback FG_ERR_STORE_UNAVAILABLE', 'recover']);
  expect(fallback.counters).toMatchObject({ fallbacks: 1, recoveries: 1 });
  expect(fallback.counters.localCalls).toBeGreaterThanOrEqual(30);
});
