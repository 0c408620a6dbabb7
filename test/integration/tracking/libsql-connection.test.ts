// LibsqlConnection on a real file: what a batch's bytes become when they cross to the database's thread.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LibsqlConnection } from '../../../src/tracking/libsql-connection';
import { batchPart } from '../../../src/tracking/sqlite-batch';
import { fullRecord } from '../../unit/tracking/tracking-behaviour';

const INSERT = 'INSERT INTO t (time, queue_id, client_ip, sender, answer, detail) VALUES (?, ?, ?, ?, ?, ?)';
const INSERT_KEYS = 'INSERT INTO k (key, time, record) SELECT value->>0, value->>1, value->>2 FROM json_each(?)';
const part = (count: number, from = 0): string => batchPart(Array.from({ length: count }, (_, i) => fullRecord({ session: `c${from + i}`, time: from + i })));

let dir: string;
let db: LibsqlConnection;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fg-libsql-'));
  db = await LibsqlConnection.open(join(dir, 'test.sqlite'), false);
  await db.exec('CREATE TABLE t (time INTEGER, queue_id TEXT, client_ip TEXT, sender TEXT, answer TEXT, detail TEXT); CREATE TABLE k (key TEXT, time INTEGER, record INTEGER)');
});
afterEach(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a batch that is all of its memory moves to the thread; a pooled one is copied and left as it was', async () => {
  const large = Buffer.concat([Buffer.from(part(20))]);
  expect(large.byteLength).toBeGreaterThan(4096);
  await db.insertParts(INSERT, [INSERT_KEYS], large);
  // Moved, not copied: the bytes are the thread's now.
  expect(large.byteLength).toBe(0);

  // A slice of Node's pool, which other Buffers share: it must not be taken from them.
  const small = Buffer.from(part(1, 20));
  expect(small.buffer.byteLength).toBeGreaterThan(small.byteLength);
  await db.insertParts(INSERT, [INSERT_KEYS], small);
  expect(small.toString()).toBe(part(1, 20));

  const [row] = await db.all("SELECT count(*) AS rows, max(time) AS last, (SELECT detail->>'session' FROM t WHERE time = 15) AS session, (SELECT count(*) FROM k) AS keys FROM t");
  expect(row).toEqual({ rows: 21, last: 20, session: 'c15', keys: 42 });
});

test('a part the thread cannot read fails the whole batch, and the table is as before', async () => {
  await expect(db.insertParts(INSERT, [INSERT_KEYS], Buffer.from(part(2) + part(1, 2).split('\n')[0]))).rejects.toThrow(/two lines/);
  const [row] = await db.all('SELECT count(*) AS rows FROM t');
  expect(row).toEqual({ rows: 0 });
});
