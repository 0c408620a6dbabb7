// LibsqlConnection on a real file: what a batch's bytes become when they cross to the database's thread.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LibsqlConnection } from '../../../src/tracking/libsql-connection';

/** Two lines a row (libsql-thread.js): the JSON of [values but the last, no child rows], then the last value. */
const rowLines = (count: number, from = 0): string =>
  Array.from({ length: count }, (_, i) => `${JSON.stringify([[from + i], []])}\nrow ${from + i}\n`).join('');

let dir: string;
let db: LibsqlConnection;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fg-libsql-'));
  db = await LibsqlConnection.open(join(dir, 'test.sqlite'), false);
  await db.exec('CREATE TABLE t (n INTEGER, text TEXT)');
});
afterEach(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a batch that is all of its memory moves to the thread; a pooled one is copied and left as it was', async () => {
  const large = Buffer.concat([Buffer.from(rowLines(500))]);
  expect(large.byteLength).toBeGreaterThan(4096);
  await db.insertTree('INSERT INTO t (n, text) VALUES (?, ?)', [], large);
  // Moved, not copied: the bytes are the thread's now.
  expect(large.byteLength).toBe(0);

  const neighbour = Buffer.from('a neighbour in the pool');
  const small = Buffer.from(rowLines(2, 500));
  expect(small.buffer).toBe(neighbour.buffer);
  await db.insertTree('INSERT INTO t (n, text) VALUES (?, ?)', [], small);
  expect(small.toString()).toBe(rowLines(2, 500));
  expect(neighbour.toString()).toBe('a neighbour in the pool');

  const [row] = await db.all('SELECT count(*) AS rows, max(n) AS last, (SELECT text FROM t WHERE n = 150) AS text FROM t');
  expect(row).toEqual({ rows: 502, last: 501, text: 'row 150' });
});
