// TrackingWriter: batches off the mail path, a bounded queue, drops counted, one health line per change, retry after a pause.
import { TrackingWriter } from '../../../src/tracking/tracking-writer';
import type { TrackingRecord, TrackingStore } from '../../../src/tracking/tracking-record';

const record = (n: number): TrackingRecord => ({ time: n, session: `s${n}`, recipients: [], answer: 'accepted', stage: 'eom', delayMs: 0, rules: [], keys: [], dnsLists: [] });

function fakeStore() {
  const batches: TrackingRecord[][] = [];
  let failing: Error | undefined;
  const store: TrackingStore & { batches: TrackingRecord[][]; fail(e: Error | undefined): void } = {
    batches,
    fail: (e) => (failing = e),
    write: async (records) => {
      if (failing) throw failing;
      batches.push([...records]);
    },
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
  expect(store.batches.map((b) => b.map((r) => r.time))).toEqual([[1, 2]]);
  for (let n = 3; n <= 5; n++) writer.add(record(n));
  await jest.advanceTimersByTimeAsync(0);
  expect(store.batches.map((b) => b.map((r) => r.time))).toEqual([[1, 2], [3, 4, 5]]);
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
  expect(store.batches.flat().map((r) => r.time)).toEqual([3, 4, 5, 6]);
  expect(health).toEqual(['database is locked', undefined]);
  await writer.close();
});

test('close writes what is queued', async () => {
  const store = fakeStore();
  const writer = new TrackingWriter(store, { batchSize: 100, flushMs: 10_000, keepMs: 1000, onDropped: jest.fn(), onHealth: jest.fn() });
  writer.add(record(1));
  await writer.close();
  expect(store.batches.flat().map((r) => r.time)).toEqual([1]);
  writer.add(record(2));
  expect(writer.queued).toBe(0);
});
