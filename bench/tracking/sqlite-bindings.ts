// Which SQLite binding for the tracking log: batched inserts, the `--ip X --since 1d` query, bytes per record, a reader beside the writer.
//
// Every candidate runs the store's own SQL (src/tracking/sqlite-schema.ts, sqlite-batch.ts,
// sqlite-query.ts) on a file on disk; "libsql: the store" is SqliteTrackingStore itself (libsql's
// synchronous API on a thread of its own, src/tracking/libsql-thread.js). Run it under each Node to compare:
//   npx tsc -p tsconfig.json --outDir bench/results/tmp
//   node bench/results/tmp/bench/tracking/sqlite-bindings.js [records=1000000] [candidates=all]
// libsql is a dependency; the other candidates are not. Install them beside the project and point
// BENCH_SQLITE_MODULES at that node_modules. better-sqlite3's prebuilt binaries are GitHub downloads
// and npm runs no install script it was not allowed to, so build it by hand against the headers of
// the Node that will run it:
//   npm install --prefix /tmp/sqlite-candidates better-sqlite3@12 node-sqlite3-wasm
//   (cd /tmp/sqlite-candidates/node_modules/better-sqlite3 && npx node-gyp rebuild --release --nodedir=/usr)
//   BENCH_SQLITE_MODULES=/tmp/sqlite-candidates/node_modules node bench/results/tmp/bench/tracking/sqlite-bindings.js
// A candidate that does not load (not installed, or built for another Node's ABI) is reported as such.
// Prints Markdown tables; asserts nothing. About a minute per candidate per million records on 2 cores.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { batchPart, INSERT_BY_RECIPIENT, INSERT_BY_RULE, INSERT_RECORD } from '../../src/tracking/sqlite-batch';
import { partRows } from '../../src/tracking/sqlite-part-rows';
import { findQuery } from '../../src/tracking/sqlite-query';
import type { SqlRow } from '../../src/tracking/sqlite-rows';
import { MIGRATIONS } from '../../src/tracking/sqlite-schema';
import { SqliteTrackingStore, TRACKING_FILE, WRITER_PRAGMAS } from '../../src/tracking/sqlite-tracking-store';
import { checkFilter } from '../../src/tracking/tracking-filter';
import type { TrackingFilter, TrackingRecord } from '../../src/tracking/tracking-record';
import { FLOODER_IP, ORDINARY_IP, prng, syntheticRecord } from './record-generator';

const BATCH = 100;
const DAY = 86_400_000;
const END = Date.UTC(2026, 0, 8);

interface Writer {
  write(records: TrackingRecord[]): Promise<void>;
  close(): Promise<void>;
}

interface Reader {
  /** Rows found (the store returns whole records, recipients included). */
  find(filter: TrackingFilter): Promise<number>;
  close(): Promise<void>;
}

interface Candidate {
  /** Opens `dir`/tracking.sqlite for writing, creating the schema. */
  writer(dir: string): Promise<Writer>;
  reader(dir: string): Promise<Reader>;
}

/** The synchronous API all three share in spirit: exec a script, run a statement, fetch rows. */
interface SyncDatabase {
  exec(sql: string): void;
  /** Runs a (cached) prepared statement with its parameters; the rowid it inserted. */
  insert(sql: string, params: unknown[]): number;
  rows(sql: string, params: unknown[]): SqlRow[];
  close(): void;
}

/** A synchronous binding runs the store's batch (bound rows, one transaction) and find query on the event loop. */
function syncCandidate(open: (path: string, readOnly: boolean) => SyncDatabase): Candidate {
  return {
    async writer(dir) {
      const db = open(join(dir, TRACKING_FILE), false);
      db.exec('PRAGMA auto_vacuum = INCREMENTAL');
      db.exec(WRITER_PRAGMAS);
      if (db.rows('PRAGMA user_version', [])[0].user_version === 0) {
        db.exec(`BEGIN; ${MIGRATIONS.join(';\n')}; PRAGMA user_version = ${MIGRATIONS.length}; COMMIT;`);
      }
      return {
        write: async (records) => {
          // As src/tracking/libsql-thread.js does: the part read back, the records one by one, their keys after them in one statement each.
          const rows = partRows(batchPart(records));
          db.exec('BEGIN IMMEDIATE');
          const byRecipient: unknown[][] = [];
          const byRule: unknown[][] = [];
          for (const [values, recipients, rules] of rows) {
            const id = db.insert(INSERT_RECORD, values);
            for (const recipient of recipients) byRecipient.push([...recipient, id]);
            for (const rule of rules) byRule.push([...rule, id]);
          }
          for (const [sql, keys] of [[INSERT_BY_RECIPIENT, byRecipient], [INSERT_BY_RULE, byRule]] as const) {
            if (keys.length > 0) db.insert(sql, [JSON.stringify(keys)]);
          }
          db.exec('COMMIT');
        },
        close: async () => db.close(),
      };
    },
    async reader(dir) {
      const db = open(join(dir, TRACKING_FILE), true);
      return {
        find: async (filter) => {
          const { sql, params } = findQuery(checkFilter(filter));
          return db.rows(sql, params).length;
        },
        close: async () => db.close(),
      };
    },
  };
}

type StatementLike = { all(...params: unknown[]): SqlRow[]; run(...params: unknown[]): { lastInsertRowid: number | bigint } };
type BetterSqliteStyle = new (path: string, options?: object) => { exec(sql: string): void; prepare(sql: string): StatementLike; close(): void };
type WasmStyle = new (path: string, options?: object) => {
  exec(sql: string): void;
  all(sql: string, values: unknown[]): SqlRow[];
  run(sql: string, values: unknown[]): { lastInsertRowid: number | bigint };
  close(): void;
};

/** Statements prepared once per SQL text. */
function preparedBy(prepare: (sql: string) => StatementLike): (sql: string) => StatementLike {
  const cache = new Map<string, StatementLike>();
  return (sql) => {
    let statement = cache.get(sql);
    if (!statement) cache.set(sql, (statement = prepare(sql)));
    return statement;
  };
}

const moduleDir = process.env.BENCH_SQLITE_MODULES;
const requireCandidate = moduleDir ? createRequire(join(moduleDir, 'noop.js')) : require;

const CANDIDATES: Record<string, Candidate> = {
  'libsql: the store (own thread)': {
    writer: async (dir) => SqliteTrackingStore.open(dir),
    reader: async (dir) => {
      const store = await SqliteTrackingStore.open(dir, { readOnly: true });
      return { find: async (filter) => (await store.find(filter)).length, close: () => store.close() };
    },
  },
  'libsql (sync API)': syncCandidate((path, readOnly) => {
    const Database = requireCandidate('libsql') as BetterSqliteStyle;
    // libsql takes no read-only option; it passes SQLite URIs on.
    const db = new Database(readOnly ? `file:${path}?mode=ro` : path);
    const statement = preparedBy((sql) => db.prepare(sql));
    return { exec: (sql) => db.exec(sql), insert: (sql, params) => Number(statement(sql).run(params).lastInsertRowid), rows: (sql, params) => statement(sql).all(...params), close: () => db.close() };
  }),
  'better-sqlite3': syncCandidate((path, readOnly) => {
    const Database = requireCandidate('better-sqlite3') as BetterSqliteStyle;
    const db = new Database(path, { readonly: readOnly });
    const statement = preparedBy((sql) => db.prepare(sql));
    return { exec: (sql) => db.exec(sql), insert: (sql, params) => Number(statement(sql).run(...params).lastInsertRowid), rows: (sql, params) => statement(sql).all(...params), close: () => db.close() };
  }),
  'node-sqlite3-wasm': syncCandidate((path, readOnly) => {
    const { Database } = requireCandidate('node-sqlite3-wasm') as { Database: WasmStyle };
    const db = new Database(path, { readOnly });
    // It takes Uint8Array for blobs, not Buffer (a subclass of it).
    const plain = (params: unknown[]): unknown[] => params.map((p) => (Buffer.isBuffer(p) ? new Uint8Array(p) : p));
    return { exec: (sql) => db.exec(sql), insert: (sql, params) => Number(db.run(sql, plain(params)).lastInsertRowid), rows: (sql, params) => db.all(sql, plain(params)), close: () => db.close() };
  }),
};

const QUERIES: Record<string, TrackingFilter> = {
  'ip (few records) --since 1d': { ip: ORDINARY_IP, since: END - DAY, limit: 50 },
  'ip (the flooder) --since 1d': { ip: FLOODER_IP, since: END - DAY, limit: 50 },
  'ip 100.64.0.0/16 --since 1d': { ip: '100.64.0.0/16', since: END - DAY, limit: 50 },
};

interface Result {
  name: string;
  loaded: string;
  insertRate?: number;
  batch?: string;
  loopDelay?: string;
  queries?: Record<string, { first: number; median: number; rows: number }>;
  bytesPerRecord?: number;
  reader?: string;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

const ms = (n: number): string => `${n.toFixed(n < 10 ? 2 : 0)} ms`;

/** Batches of 100 one after another, as the writer queue hands them over; the event loop's delay meanwhile. */
async function fill(writer: Writer, count: number): Promise<Pick<Result, 'insertRate' | 'batch' | 'loopDelay'>> {
  const next = prng(16);
  const batchTimes: number[] = [];
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const started = performance.now();
  for (let i = 0; i < count; i += BATCH) {
    const records = Array.from({ length: Math.min(BATCH, count - i) }, (_, j) => syntheticRecord(i + j, count, END, 7, next));
    const t = performance.now();
    await writer.write(records);
    batchTimes.push(performance.now() - t);
    // The writer queue hands over a batch at a time and the event loop turns in between: a
    // synchronous binding's batch shows up here as the delay it imposes on everything else.
    await new Promise((resolve) => setImmediate(resolve));
  }
  const seconds = (performance.now() - started) / 1000;
  delay.disable();
  batchTimes.sort((a, b) => a - b);
  return {
    insertRate: count / seconds,
    batch: `${ms(percentile(batchTimes, 50))} / ${ms(percentile(batchTimes, 99))} / ${ms(batchTimes[batchTimes.length - 1])}`,
    loopDelay: `${ms(delay.percentile(99) / 1e6)} / ${ms(delay.max / 1e6)}`,
  };
}

/** Each query first on a reader opened for it (as `floodgate track` does), then 20 more times for the median. */
async function timeQueries(candidate: Candidate, dir: string): Promise<Result['queries']> {
  const out: NonNullable<Result['queries']> = {};
  for (const [name, filter] of Object.entries(QUERIES)) {
    let t = performance.now();
    const reader = await candidate.reader(dir);
    const rows = await reader.find(filter);
    const first = performance.now() - t;
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      t = performance.now();
      await reader.find(filter);
      times.push(performance.now() - t);
    }
    await reader.close();
    out[name] = { first, median: percentile(times.sort((a, b) => a - b), 50), rows };
  }
  return out;
}

/** Another process runs the flooder query in a loop for `ms` while this one writes batches. */
async function readerBesideWriter(writer: Writer, name: string, dir: string, ms: number): Promise<string> {
  const child = spawn(process.execPath, [__filename, 'reader', name, dir, String(ms)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const next = prng(99);
  let batches = 0;
  let failed = 0;
  let i = 0;
  const until = Date.now() + ms + 300;
  while (Date.now() < until) {
    try {
      await writer.write(Array.from({ length: BATCH }, () => syntheticRecord(i++, 1e9, END, 7, next)));
      batches++;
    } catch {
      failed++;
    }
    // Lets the child's output in even when the writes are synchronous.
    await new Promise((resolve) => setImmediate(resolve));
  }
  await exited;
  const reader = JSON.parse(output.trim().split('\n').pop() ?? '{}') as { queries?: number; errors?: number; error?: string };
  if (reader.error) return `reader could not open: ${reader.error}`;
  return `${reader.queries} reads (${reader.errors} failed) while ${batches} batches were written (${failed} failed)`;
}

async function runReader(name: string, dir: string, ms: number): Promise<void> {
  let queries = 0;
  let errors = 0;
  let reader: Reader;
  try {
    reader = await CANDIDATES[name].reader(dir);
  } catch (error) {
    console.log(JSON.stringify({ error: String(error) }));
    return;
  }
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      await reader.find(QUERIES['ip (the flooder) --since 1d']);
      queries++;
    } catch {
      errors++;
    }
  }
  await reader.close();
  console.log(JSON.stringify({ queries, errors }));
}

async function benchCandidate(name: string, count: number): Promise<Result> {
  const candidate = CANDIDATES[name];
  const dir = mkdtempSync(join(tmpdir(), 'fg-sqlite-bench-'));
  let writer: Writer;
  try {
    writer = await candidate.writer(dir);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    return { name, loaded: `no: ${String(error).split('\n')[0].slice(0, 100)}` };
  }
  try {
    const filled = await fill(writer, count);
    await writer.close();
    // Closing the last connection checkpoints the WAL into the file and removes it.
    const bytesPerRecord = statSync(join(dir, TRACKING_FILE)).size / count;
    const queries = await timeQueries(candidate, dir);
    writer = await candidate.writer(dir);
    const reader = await readerBesideWriter(writer, name, dir, 3000);
    await writer.close();
    return { name, loaded: 'yes', ...filled, queries, bytesPerRecord, reader };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === 'reader') return runReader(process.argv[3], process.argv[4], Number(process.argv[5]));
  const count = Number(process.argv[2] ?? 1_000_000);
  const names = process.argv[3] ? process.argv[3].split(',') : Object.keys(CANDIDATES);
  console.log(`Node ${process.version} (ABI ${process.versions.modules}), ${count.toLocaleString('en')} records over 7 days in batches of ${BATCH}\n`);
  const results: Result[] = [];
  for (const name of names) {
    console.error(`${name}...`);
    results.push(await benchCandidate(name, count));
  }
  console.log('| candidate | loads | records/s | batch p50 / p99 / max | event-loop delay p99 / max | bytes/record |');
  console.log('|---|---|---|---|---|---|');
  for (const r of results) console.log(`| ${r.name} | ${r.loaded} | ${r.insertRate?.toFixed(0) ?? ''} | ${r.batch ?? ''} | ${r.loopDelay ?? ''} | ${r.bytesPerRecord?.toFixed(0) ?? ''} |`);
  console.log('\n| candidate | find, limit 50 | first, on a newly opened reader | median of 20 | rows |');
  console.log('|---|---|---|---|---|');
  for (const r of results) {
    for (const [query, q] of Object.entries(r.queries ?? {})) console.log(`| ${r.name} | ${query} | ${ms(q.first)} | ${ms(q.median)} | ${q.rows} |`);
  }
  console.log('\n| candidate | another process reading while this one writes (3 s) |');
  console.log('|---|---|');
  for (const r of results) if (r.reader) console.log(`| ${r.name} | ${r.reader} |`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
