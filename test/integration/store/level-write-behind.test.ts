// LevelStore's write-behind cache: answers before the disk, flushes on close, evicts only what is written, fails loudly.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { LevelStore, type LevelStoreOptions } from '../../../src/store/level-store';
import { StoreError } from '../../../src/store/score-store';

const H = 60_000;
const T0 = 1_700_000_000_000;
/** No flush by timer or batch size during a test unless it asks for one. */
const NO_FLUSH: LevelStoreOptions = { flushIntervalMs: 3_600_000, batchEntries: 1_000_000, maxDirty: 1_000_000 };

/** The part of LevelDB's chained batch these tests touch. */
interface ChainedBatch {
  write(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Watches the batches the store writes to its LevelDB (a private field: the seam these tests need).
 * With `fail`, the write of the next `times` batches (every one by default) rejects with it; with
 * `until`, it waits for that promise first. Each batch is still built by LevelDB itself.
 */
function watchBatches(store: LevelStore, change: { fail?: Error; until?: Promise<void>; times?: number } = {}): jest.SpyInstance {
  const level = (store as unknown as { db: { batch(): ChainedBatch } }).db;
  const real = level.batch.bind(level);
  let left = change.fail || change.until ? change.times ?? Infinity : 0;
  return jest.spyOn(level, 'batch').mockImplementation(() => {
    const batch = real();
    if (left <= 0) return batch;
    left -= 1;
    const write = batch.write.bind(batch);
    batch.write = async () => {
      await change.until;
      if (!change.fail) return write();
      await batch.close();
      throw change.fail;
    };
    return batch;
  });
}

/** The store's ScoreCache internals these tests watch: its LRU map and its array of slots. */
function cacheOf(store: LevelStore): { hot: Map<string, number>; fields: Float64Array; evictOverflow(): void } {
  return (store as unknown as { cache: { hot: Map<string, number>; fields: Float64Array; evictOverflow(): void } }).cache;
}

const tick = (ms = 0): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('LevelStore write-behind', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'floodgate-wb-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('answers and reads changes that have not been written yet', async () => {
    const store = await LevelStore.open(dir, NO_FLUSH);
    const batch = watchBatches(store);
    expect(await store.add('ip:192.0.2.1', 3, H, T0)).toBe(3);
    expect(await store.add('ip:192.0.2.1', 2, H, T0)).toBe(5);
    expect(await store.get('ip:192.0.2.1', T0)).toMatchObject({ score: 5 });
    expect(await store.delete('ip:192.0.2.1')).toBe(true);
    expect(await store.get('ip:192.0.2.1', T0)).toBeUndefined();
    expect(batch).not.toHaveBeenCalled();
    await store.close();
    expect(batch).toHaveBeenCalledTimes(1);
  });

  test('close() writes every pending change: a reopened store has them all', async () => {
    const first = await LevelStore.open(dir, NO_FLUSH);
    await first.addMany(Array.from({ length: 500 }, (_, i) => ({ key: `sender:u${i}@example.org`, points: i + 1, halfLifeMs: H })), T0);
    await first.delete('sender:u0@example.org');
    await first.close();
    const second = await LevelStore.open(dir);
    expect(await second.size()).toBe(499);
    expect(await second.get('sender:u0@example.org', T0)).toBeUndefined();
    expect(await second.get('sender:u499@example.org', T0)).toMatchObject({ score: 500 });
    expect((await second.top(1, T0))[0]).toMatchObject({ key: 'sender:u499@example.org', score: 500 });
    await second.close();
  });

  test('changes reach the disk within the flush interval, without close (a SIGKILLed process keeps them)', async () => {
    // A child adds, waits well past the flush interval, says so, and is killed before it could close.
    // It loads the TypeScript sources through typescript's transpiler (the repository has no ts-node).
    const child = spawn(process.execPath, ['-e', `
      const ts = require('typescript');
      const fs = require('fs');
      require.extensions['.ts'] = (m, file) => m._compile(ts.transpileModule(fs.readFileSync(file, 'utf8'),
        { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText, file);
      const { LevelStore } = require('./src/store/level-store.ts');
      LevelStore.open(process.argv[1], { flushIntervalMs: 5 }).then(async (store) => {
        await store.add('ip:192.0.2.9', 7, ${H}, ${T0});
        setTimeout(() => process.stdout.write('added\\n'), 200);
      });
    `, dir], { cwd: join(__dirname, '..', '..', '..'), stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const store = await LevelStore.open(dir);
    expect(await store.get('ip:192.0.2.9', T0)).toMatchObject({ score: 7 });
    await store.close();
  }, 20_000);

  test('changed keys stay in memory until written, however small the cache, then reach the disk', async () => {
    const store = await LevelStore.open(dir, { ...NO_FLUSH, cacheEntries: 4 });
    const keys = Array.from({ length: 100 }, (_, i) => `ip:198.51.100.${i}`);
    for (const [i, key] of keys.entries()) await store.add(key, i + 1, H, T0);
    // Nothing is on disk yet, so a dropped change would read as absent here.
    for (const [i, key] of keys.entries()) expect(await store.get(key, T0)).toMatchObject({ score: i + 1 });
    await store.close();
    const reopened = await LevelStore.open(dir, { cacheEntries: 4 });
    for (const [i, key] of keys.entries()) expect(await reopened.get(key, T0)).toMatchObject({ score: i + 1 });
    await reopened.close();
  });

  test('once written, keys beyond the capacity leave memory and their slots are reused; evicted keys read back right', async () => {
    const store = await LevelStore.open(dir, { cacheEntries: 64, flushIntervalMs: 1, batchEntries: 100 });
    const cache = cacheOf(store);
    const slotsAfter: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 2000; i += 50) {
        await store.addMany(Array.from({ length: 50 }, (_, j) => ({ key: `sender:u${i + j}@example.org`, points: i + j + 1, halfLifeMs: H })), T0);
        await tick(); // as between sessions: the batch being written can land
      }
      await (store as unknown as { writer: { flushAll(): Promise<void> } }).writer.flushAll();
      cache.evictOverflow();
      expect(cache.hot.size).toBeLessThanOrEqual(64 + 8);
      slotsAfter.push(cache.fields.length);
    }
    // Round 1 created every key; rounds 2 and 3 read them back into freed slots: the array did not grow.
    expect(slotsAfter[2]).toBe(slotsAfter[0]);
    // Each key has its three rounds of points, whether it is still in memory or read back from disk.
    for (const i of [0, 1, 999, 1998, 1999]) expect(await store.get(`sender:u${i}@example.org`, T0)).toMatchObject({ score: 3 * (i + 1) });
    await store.close();
  });

  test('parallel adds on a key that must be read from disk stay atomic, also with a tiny cache', async () => {
    const first = await LevelStore.open(dir);
    await first.add('ip:203.0.113.5', 10, H, T0);
    await first.close();
    const store = await LevelStore.open(dir, { cacheEntries: 2, flushIntervalMs: 1, batchEntries: 50 });
    // The hot key waits for its read together with new keys that evict one another meanwhile.
    const calls = Array.from({ length: 600 }, (_, i) => (i % 3 === 0
      ? store.add(`sender:n${i}@example.org`, 1, H, T0)
      : store.add('ip:203.0.113.5', 1, H, T0)));
    const results = await Promise.all(calls);
    const onHotKey = results.filter((_, i) => i % 3 !== 0).sort((a, b) => a - b);
    expect(onHotKey).toEqual(Array.from({ length: 400 }, (_, i) => 11 + i));
    expect((await store.get('ip:203.0.113.5', T0))?.score).toBe(410);
    expect(await store.size()).toBe(201);
    await store.close();
  });

  test('a write that fails makes the next calls reject with StoreError until a retry succeeds; nothing is lost', async () => {
    const store = await LevelStore.open(dir, { flushIntervalMs: 1, retryMs: 50 });
    const batch = watchBatches(store, { fail: new Error('No space left on device'), times: 1 });
    expect(await store.add('ip:192.0.2.1', 4, H, T0)).toBe(4); // answered from memory before the write fails
    await waitUntil(() => batch.mock.calls.length >= 1);
    await tick(5);
    await expect(store.add('ip:192.0.2.1', 1, H, T0)).rejects.toMatchObject({ code: 'FG_ERR_STORE_UNAVAILABLE', message: expect.stringMatching(/No space left on device/) });
    await expect(store.get('ip:192.0.2.1', T0)).rejects.toBeInstanceOf(StoreError);
    await waitUntil(() => batch.mock.calls.length >= 2); // the retry, which succeeds
    await tick(5);
    expect(await store.add('ip:192.0.2.1', 1, H, T0)).toBe(5);
    await store.close();
    const reopened = await LevelStore.open(dir);
    expect(await reopened.get('ip:192.0.2.1', T0)).toMatchObject({ score: 5 });
    await reopened.close();
  });

  test('close() rejects with StoreError when the last changes cannot be written, and still releases the directory', async () => {
    const store = await LevelStore.open(dir, NO_FLUSH);
    watchBatches(store, { fail: new Error('EIO') });
    await store.add('k', 1, H, T0);
    await expect(store.close()).rejects.toMatchObject({ code: 'FG_ERR_STORE_UNAVAILABLE', message: expect.stringMatching(/EIO/) });
    const reopened = await LevelStore.open(dir);
    expect(await reopened.get('k', T0)).toBeUndefined();
    await reopened.close();
  });

  test('when the disk falls behind, changes wait (back-pressure) instead of piling up in memory', async () => {
    const store = await LevelStore.open(dir, { flushIntervalMs: 3_600_000, batchEntries: 5, maxDirty: 10 });
    let open!: () => void;
    watchBatches(store, { until: new Promise<void>((resolve) => (open = resolve)), times: 1 });
    for (let i = 0; i < 15; i++) await store.add(`k${i}`, 1, H, T0); // k0-k4 start the held batch; k5-k14 fill the queue
    let answered = false;
    const waiting = store.add('k15', 1, H, T0).then((score) => {
      answered = true;
      return score;
    });
    await tick(20);
    expect(answered).toBe(false);
    expect(await store.get('k3', T0)).toMatchObject({ score: 1 }); // reads do not wait
    open();
    expect(await waiting).toBe(1);
    await store.close();
    const reopened = await LevelStore.open(dir);
    expect(await reopened.size()).toBe(16);
    await reopened.close();
  });

  test('a version 1 directory (exact expiry index) is upgraded on open and swept clean', async () => {
    const db = new Level<string, string>(dir);
    const expiresAt = T0 + 6644; // 1 point, 1 s half-life
    await db.batch([
      { type: 'put', key: 'm!format', value: '1' },
      { type: 'put', key: 's!ip:192.0.2.1', value: JSON.stringify([1, T0, 1000, expiresAt]) },
      { type: 'put', key: `x!${String(expiresAt).padStart(15, '0')}!ip:192.0.2.1`, value: '' },
    ]);
    await db.close();
    const store = await LevelStore.open(dir);
    expect(await store.get('ip:192.0.2.1', T0)).toMatchObject({ score: 1, expiresAt });
    expect(await store.sweep(expiresAt - 1)).toBe(0);
    expect(await store.sweep(expiresAt)).toBe(1);
    await store.close();
    const raw = new Level<string, string>(dir);
    expect(await raw.get('m!format')).toBe('2');
    expect(await raw.keys({ gte: 'x!', lt: 'x"' }).all()).toEqual([]);
    expect(await raw.keys({ gte: 's!', lt: 's"' }).all()).toEqual([]);
    await raw.close();
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await tick(1);
  }
}
