// Score store throughput and mass expiry: updates/s per backend, and 1M keys swept and compacted on disk.
//
// Run (ts-node is not a dependency, so compile the project into the git-ignored bench/results/tmp,
// which sits inside the repo so that `require('level')` still finds node_modules):
//   npx tsc -p tsconfig.json --outDir bench/results/tmp && node bench/results/tmp/bench/store-bench.js [keys]
// `keys` (default 1,000,000) is the size of the mass-expiry run. Prints figures; asserts nothing.
// The Redis figures need redis-server (scripts/install-test-deps.sh): the bench starts a private one
// and a 3-primary Cluster on loopback, in the same run as LevelDB, so the figures compare.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LevelStore } from '../src/store/level-store';
import { MemoryStore } from '../src/store/memory-store';
import { RedisStore, type RedisStoreOptions } from '../src/store/redis-store';
import { startRedis, startRedisCluster } from '../test/support/redis-rig';
import type { ScoreStore, ScoreUpdate } from '../src/store/score-store';

const H = 60_000;
const T0 = 1_700_000_000_000;
/** Sessions adding at once: a busy MX has a few hundred SMTP sessions open. */
const CONCURRENCY = 100;

function ipKey(i: number): string {
  return `ip:10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

/** Bytes in the files, and bytes allocated on disk (what du reports). */
function diskUse(dir: string): { bytes: number; allocated: number } {
  let bytes = 0;
  let allocated = 0;
  for (const name of readdirSync(dir)) {
    const stat = statSync(join(dir, name));
    bytes += stat.size;
    allocated += stat.blocks * 512;
  }
  return { bytes, allocated };
}

const mb = (n: number): string => `${(n / 1_048_576).toFixed(2)} MiB`;
const rate = (n: number, ms: number): string => `${Math.round((n / ms) * 1000).toLocaleString('en-US')}/s`;

/** `total` single-key add() calls from CONCURRENCY concurrent callers; returns updates per second. */
async function addRate(store: ScoreStore, total: number, keyOf: (i: number) => string): Promise<string> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < total) {
      const i = next++;
      await store.add(keyOf(i), 1, H, T0 + i);
    }
  }));
  return rate(total, performance.now() - started);
}

async function withLevel<T>(task: (store: LevelStore, dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'floodgate-bench-'));
  const store = await LevelStore.open(dir);
  try {
    return await task(store, dir);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function throughput(): Promise<void> {
  const memory = new MemoryStore();
  console.log(`MemoryStore  add, one hot key:       ${await addRate(memory, 500_000, () => 'ip:192.0.2.1')}`);
  console.log(`MemoryStore  add, distinct keys:     ${await addRate(memory, 500_000, ipKey)}`);
  await memory.close();
  await withLevel(async (store) => {
    console.log(`LevelStore   add, one hot key:       ${await addRate(store, 100_000, () => 'ip:192.0.2.1')}`);
  });
  await withLevel(async (store) => {
    console.log(`LevelStore   add, distinct keys:     ${await addRate(store, 200_000, ipKey)}`);
  });
  await withLevel(async (store) => {
    console.log(`LevelStore   addMany, 3 keys/event:  ${await eventRate(store, 100_000)}`);
  });
}

/** One event touching ip, sender and ip+sender at once, as the engine does; returns updates/s and events/s. */
async function eventRate(store: ScoreStore, events: number): Promise<string> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < events) {
      const i = next++;
      const sender = `sender:user${i % 5000}@example.org`;
      await store.addMany([
        { key: ipKey(i % 20_000), points: 1, halfLifeMs: H },
        { key: sender, points: 1, halfLifeMs: H },
        { key: `ip+sender:${ipKey(i % 20_000).slice(3)}|${sender.slice(7)}`, points: 1, halfLifeMs: H },
      ], T0 + i);
    }
  }));
  const ms = performance.now() - started;
  return `${rate(events * 3, ms)} updates (${rate(events, ms)} events)`;
}

/** The same measures as for LevelDB, on a private redis-server and on a 3-primary Cluster (all on this host). */
async function redisThroughput(): Promise<void> {
  const server = await startRedis();
  const cluster = await startRedisCluster(3);
  const base = { connectTimeoutMs: 5000, commandTimeoutMs: 10_000 };
  const targets: Array<[string, RedisStoreOptions]> = [
    ['RedisStore  ', { url: server.url, ...base }],
    ['RedisCluster', { clusterNodes: cluster.urls, ...base }],
  ];
  try {
    for (const [name, options] of targets) {
      const store = await RedisStore.connect(options);
      try {
        console.log(`${name} add, one hot key:       ${await addRate(store, 100_000, () => 'ip:192.0.2.1')}`);
        console.log(`${name} add, distinct keys:     ${await addRate(store, 200_000, ipKey)}`);
        console.log(`${name} addMany, 3 keys/event:  ${await eventRate(store, 100_000)}`);
        let started = performance.now();
        const top = await store.top(10, T0, 'ip:');
        console.log(`${name} top(10, 'ip:'):         ${(performance.now() - started).toFixed(0)} ms over ${(await store.size()).toLocaleString('en-US')} keys (SCAN; best ${top[0]?.key})`);
        started = performance.now();
        await store.size();
        console.log(`${name} size():                 ${(performance.now() - started).toFixed(0)} ms (SCAN)`);
      } finally {
        await store.close();
      }
    }
  } finally {
    await cluster.destroy();
    await server.destroy();
  }
}

async function massExpiry(keys: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'floodgate-bench-'));
  try {
    // Compaction is left to the explicit call below, so that the sweep and the compaction are timed apart.
    let store = await LevelStore.open(dir, { compactAfterSweeping: Number.POSITIVE_INFINITY });
    let started = performance.now();
    for (let start = 0; start < keys; start += 1000) {
      const updates: ScoreUpdate[] = [];
      for (let i = start; i < Math.min(keys, start + 1000); i += 1) updates.push({ key: ipKey(i), points: 5, halfLifeMs: 1000 });
      await store.addMany(updates, T0);
    }
    console.log(`\n${keys.toLocaleString('en-US')} distinct keys via addMany(1000): ${rate(keys, performance.now() - started)}`);
    await store.close();
    started = performance.now();
    store = await LevelStore.open(dir, { compactAfterSweeping: Number.POSITIVE_INFINITY });
    console.log(`reopen (counts the records):         ${(performance.now() - started).toFixed(0)} ms, size() = ${await store.size()}`);
    started = performance.now();
    const top = await store.top(10, T0, 'ip:');
    console.log(`top(10, 'ip:') over all of them:     ${(performance.now() - started).toFixed(0)} ms (best ${top[0]?.key})`);
    const full = diskUse(dir);
    console.log(`disk full:                           ${mb(full.bytes)} (du ${mb(full.allocated)})`);
    started = performance.now();
    const removed = await store.sweep(T0 + 60_000);
    console.log(`sweep:                               ${removed.toLocaleString('en-US')} removed in ${((performance.now() - started) / 1000).toFixed(1)} s, size() = ${await store.size()}`);
    const swept = diskUse(dir);
    console.log(`disk after sweep, before compaction: ${mb(swept.bytes)} (du ${mb(swept.allocated)})`);
    started = performance.now();
    await store.compact();
    const compacted = diskUse(dir);
    console.log(`compaction:                          ${((performance.now() - started) / 1000).toFixed(1)} s -> ${mb(compacted.bytes)} (du ${mb(compacted.allocated)})`);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const keys = Number(process.argv[2] ?? 1_000_000);
  console.log(`node ${process.version}, ${CONCURRENCY} concurrent callers\n`);
  await throughput();
  console.log('');
  await redisThroughput();
  await massExpiry(keys);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
