// The tracking stores at size: records/s written in batches of 100, every find filter over a million records, bytes per record.
//
// Run (compiled like the other benches; PostgreSQL from Debian's package, scripts/install-test-deps.sh):
//   npx tsc -p tsconfig.json --outDir bench/results/tmp
//   node bench/results/tmp/bench/tracking/tracking-store-bench.js [records=1000000] [stores=sqlite,postgres]
// SQLite is a file in the temp directory; PostgreSQL a private cluster on loopback (test/support/
// postgres-rig.ts) with its durable defaults (fsync on). Batches go one after another, as the writer
// queue hands them over; the rate is over the whole fill, so it includes the growing indexes.
// Floodgate's peak on 2 cores is ~4,000 sessions/s (bench/README.md): one record per session.
// Prints Markdown tables; asserts nothing.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { PostgresTrackingStore } from '../../src/tracking/postgres-tracking-store';
import { SqliteTrackingStore, TRACKING_FILE } from '../../src/tracking/sqlite-tracking-store';
import type { TrackingFilter, TrackingRecord, TrackingStore } from '../../src/tracking/tracking-record';
import { startPostgres } from '../../test/support/postgres-rig';
import { killAllTracked } from '../../test/support/processes';
import { FLOODER_IP, ORDINARY_IP, prng, syntheticRecord } from './record-generator';

const BATCH = 100;
const DAY = 86_400_000;
const END = Date.UTC(2026, 0, 8);

/** The filters timed; --from and --to take the newest record's sender and first recipient, so that they find something. */
const queries = (newest: TrackingRecord): Record<string, TrackingFilter> => ({
  '--ip X --since 1d (a client with few records)': { ip: ORDINARY_IP, since: END - DAY, limit: 50 },
  '--ip X --since 1d (the flooder, 5 % of all)': { ip: FLOODER_IP, since: END - DAY, limit: 50 },
  '--ip 100.64.0.0/16 --since 1d': { ip: '100.64.0.0/16', since: END - DAY, limit: 50 },
  '--ip 2001:db8::/32': { ip: '2001:db8::/32', limit: 50 },
  '--since 1d': { since: END - DAY, limit: 50 },
  '--from X': { from: newest.sender as string, limit: 50 },
  '--to X --since 1d': { to: newest.recipients[0].address, since: END - DAY, limit: 50 },
  '--answer reject --since 1d': { answer: 'reject', since: END - DAY, limit: 50 },
  '--rule ip-flood --since 1d': { rule: 'ip-flood', since: END - DAY, limit: 50 },
  '--rule ip-flood --ip X (the flooder)': { rule: 'ip-flood', ip: FLOODER_IP, limit: 50 },
});

interface Figures {
  rate: number;
  bytesPerRecord: number;
  queries: Record<string, { first: number; median: number; rows: number }>;
}

async function fill(store: TrackingStore, count: number): Promise<number> {
  const next = prng(16);
  const started = performance.now();
  for (let i = 0; i < count; i += BATCH) {
    await store.write(Array.from({ length: Math.min(BATCH, count - i) }, (_, j) => syntheticRecord(i + j, count, END, 7, next)));
    if ((i / BATCH) % 1000 === 999) console.error(`  ${(i + BATCH).toLocaleString('en')} records, ${((i + BATCH) / ((performance.now() - started) / 1000)).toFixed(0)}/s`);
  }
  return count / ((performance.now() - started) / 1000);
}

/** Each query once on a reader opened for it (what `floodgate track` pays), then the median of 20. */
async function timeQueries(openReader: () => Promise<TrackingStore>): Promise<Figures['queries']> {
  const out: Figures['queries'] = {};
  const first = await openReader();
  const [newest] = await first.find({ limit: 1 });
  await first.close();
  for (const [name, filter] of Object.entries(queries(newest))) {
    let t = performance.now();
    const reader = await openReader();
    const rows = (await reader.find(filter)).length;
    const opened = performance.now() - t;
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      t = performance.now();
      await reader.find(filter);
      times.push(performance.now() - t);
    }
    await reader.close();
    times.sort((a, b) => a - b);
    out[name] = { first: opened, median: times[10], rows };
  }
  return out;
}

async function sqlite(count: number): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), 'fg-tracking-bench-'));
  try {
    const store = await SqliteTrackingStore.open(dir);
    const rate = await fill(store, count);
    await store.close();
    const bytesPerRecord = statSync(join(dir, TRACKING_FILE)).size / count;
    return { rate, bytesPerRecord, queries: await timeQueries(() => SqliteTrackingStore.open(dir, { readOnly: true })) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function postgres(count: number): Promise<Figures> {
  const server = await startPostgres();
  try {
    const store = new PostgresTrackingStore({ url: server.url });
    const rate = await fill(store, count);
    await store.close();
    const client = new Client({ connectionString: server.url });
    await client.connect();
    await client.query('VACUUM ANALYZE');
    const size = await client.query<{ n: string }>("SELECT sum(pg_total_relation_size(c)) AS n FROM unnest(ARRAY['tracking_records', 'tracking_recipients', 'tracking_rules']::regclass[]) c");
    await client.end();
    const bytesPerRecord = Number(size.rows[0].n) / count;
    return { rate, bytesPerRecord, queries: await timeQueries(async () => new PostgresTrackingStore({ url: server.url, readOnly: true })) };
  } finally {
    await server.destroy();
    await killAllTracked();
  }
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 1_000_000);
  const stores = (process.argv[3] ?? 'sqlite,postgres').split(',');
  console.log(`Node ${process.version}, ${count.toLocaleString('en')} records over 7 days in batches of ${BATCH}\n`);
  const results: Record<string, Figures> = {};
  for (const name of stores) {
    console.error(`${name}...`);
    results[name] = name === 'sqlite' ? await sqlite(count) : await postgres(count);
  }
  const ms = (n: number): string => `${n.toFixed(n < 10 ? 2 : 0)} ms`;
  console.log('| store | records/s (batches of 100) | bytes per record on disk |');
  console.log('|---|---|---|');
  for (const [name, r] of Object.entries(results)) console.log(`| ${name} | ${r.rate.toFixed(0)} | ${r.bytesPerRecord.toFixed(0)} |`);
  console.log(`\n| find, limit 50 | ${stores.map((s) => `${s}: first / median of 20 (rows)`).join(' | ')} |`);
  console.log(`|---|${stores.map(() => '---').join('|')}|`);
  for (const query of Object.keys(results[stores[0]].queries)) {
    console.log(`| ${query} | ${stores.map((s) => { const q = results[s].queries[query]; return `${ms(q.first)} / ${ms(q.median)} (${q.rows})`; }).join(' | ')} |`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
