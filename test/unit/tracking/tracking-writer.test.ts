// TrackingWriter: batches off the mail path, a bounded queue, drops counted, one health line per change, retry after a pause.
import { TrackingWriter } from '../../../src/tracking/tracking-writer';
import type { TrackingRecord, TrackingStore } from '../../../src/tracking/tracking-record';

const record = (n: number): TrackingRecord => ({ time: n, session: `s${n}`, recipients: [], answer: 'accepted', stage: 'eom', delayMs: 0, rules: [], keys: [], dnsLists: [] });

/**
 * A store whose part is the records' times, joined, as bytes; a batch is read back as the times it
 * holds. Time -1 is a record no store could hold. `fail` makes writes reject until it is cleared.
 */
function fakeStore(batchSize = 2000) {
  const batches: number[][] = [];
  const partSizes: number[] = [];
  let failing: Error | undefined;
  const store: TrackingStore & { batches: number[][]; partSizes: number[]; fail(e: Error | undefined): void } = {
    batchSize,
    batches,
    partSizes,
    fail: (e) => (failing = e),
    encode: (records) => {
      if (records.some((r) => r.time === -1)) throw new RangeError(`tracking record: time -1 is not a time in ms`);
      partSizes.push(records.length);
      return Buffer.from(records.map((r) => r.time).join(','));
    },
    writeEncoded: async (parts) => {
      if (failing) throw failing;
      batches.push(parts.map(String).join(',').split(',').map(Number));
    },
    write: async (records) => store.writeEncoded([store.encode(records)]),
    find: async () => [],
    get: async () => undefined,
    prune: async () => 0,
    close: async () => undefined,
  };
  return store;
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

test('records are written in batches after flushMs, or at once when a batch is full', async () => {
  const store = fakeStore();
  const writer = new TrackingWriter(store, { batchSize: 3, flushMs: 100, keepMs: 1000, onDropped: jest.fn(), onHealth: jest.fn() });
  writer.add(record(1));
  writer.add(record(2));
  expect(store.batches).toEqual([]);
  await jest.advanceTimersByTimeAsync(100);
  expect(store.batches).toEqual([[1, 2]]);
  for (let n = 3; n <= 5; n++) writer.add(record(n));
  await jest.advanceTimersByTimeAsync(0);
  expect(store.batches).toEqual([[1, 2], [3, 4, 5]]);
  await writer.close();
});

test('a full queue drops and counts; a failing database drops its batch, is reported once, and is retried after a pause', async () => {
  const store = fakeStore();
  const dropped: Array<[number, string]> = [];
  const health: Array<string | undefined> = [];
  const writer = new TrackingWriter(store, { batchSize: 2, flushMs: 10, maxQueued: 4, keepMs: 1000, onDropped: (n, why) => dropped.push([n, why]), onHealth: (e) => health.push(e?.message) });
  store.fail(new Error('database is locked'));
  writer.add(record(1));
  writer.add(record(2)); // a full batch: written at once, refused
  await jest.advanceTimersByTimeAsync(0);
  expect(dropped).toEqual([[2, 'database error']]);
  for (let n = 3; n <= 8; n++) writer.add(record(n)); // 4 fit while the writer waits out its pause
  expect(dropped).toEqual([[2, 'database error'], [1, 'queue full'], [1, 'queue full']]);
  await jest.advanceTimersByTimeAsync(999);
  expect(store.batches).toEqual([]);
  store.fail(undefined);
  await jest.advanceTimersByTimeAsync(1);
  await jest.advanceTimersByTimeAsync(0);
  expect(store.batches.flat()).toEqual([3, 4, 5, 6]);
  expect(health).toEqual(['database is locked', undefined]);
  await writer.close();
});

test('close writes what is queued', async () => {
  const store = fakeStore();
  const writer = new TrackingWriter(store, { batchSize: 100, flushMs: 10_000, keepMs: 1000, onDropped: jest.fn(), onHealth: jest.fn() });
  writer.add(record(1));
  await writer.close();
  expect(store.batches.flat()).toEqual([1]);
  writer.add(record(2));
  expect(writer.queued).toBe(0);
});

test('the store gets parts of 50 records as they arrive, whole parts per batch, the rest after it or when the timer goes off', async () => {
  const store = fakeStore();
  const writer = new TrackingWriter(store, { batchSize: 100, flushMs: 100, keepMs: 1000, onDropped: jest.fn(), onHealth: jest.fn() });
  for (let n = 1; n <= 49; n++) writer.add(record(n));
  expect(store.partSizes).toEqual([]);
  writer.add(record(50));
  expect(store.partSizes).toEqual([50]);
  for (let n = 51; n <= 120; n++) writer.add(record(n));
  // The 100th record filled a batch: its two parts left the queue for the store at once.
  expect(writer.queued).toBe(20);
  await jest.advanceTimersByTimeAsync(0);
  // The writer goes on with what is queued once a batch is written: the 20 left, as one part.
  expect(store.batches).toEqual([Array.from({ length: 100 }, (_, i) => i + 1), Array.from({ length: 20 }, (_, i) => i + 101)]);
  expect(store.partSizes).toEqual([50, 50, 20]);
  for (let n = 121; n <= 130; n++) writer.add(record(n));
  await jest.advanceTimersByTimeAsync(99);
  expect(store.batches).toHaveLength(2);
  await jest.advanceTimersByTimeAsync(1);
  expect(store.batches[2]).toEqual(Array.from({ length: 10 }, (_, i) => i + 121));
  expect(writer.queued).toBe(0);
  await writer.close();
});

test('a record the store cannot encode costs only itself', async () => {
  const store = fakeStore();
  const dropped: Array<[number, string]> = [];
  const writer = new TrackingWriter(store, { batchSize: 1000, flushMs: 100, keepMs: 1000, onDropped: (n, why) => dropped.push([n, why]), onHealth: jest.fn() });
  for (let n = 1; n <= 50; n++) writer.add(record(n === 7 ? -1 : n));
  expect(dropped).toEqual([[1, 'database error']]);
  expect(writer.queued).toBe(49);
  await writer.close();
  expect(store.batches.flat()).toEqual(Array.from({ length: 50 }, (_, i) => i + 1).filter((n) => n !== 7));
});

test('batches are as big as the store asks unless the options say otherwise', async () => {
  const store = fakeStore(100);
  const writer = new TrackingWriter(store, { flushMs: 100, keepMs: 1000, onDropped: jest.fn(), onHealth: jest.fn() });
  for (let n = 1; n <= 150; n++) writer.add(record(n));
  await jest.advanceTimersByTimeAsync(100);
  expect(store.batches.map((b) => b.length)).toEqual([100, 50]);
  await writer.close();
});
