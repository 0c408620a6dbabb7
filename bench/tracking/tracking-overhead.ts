// What tracking costs the milter (issue 16): the same build with tracking.backend off and with the
// tracking log on (SQLite under state_dir, or PostgreSQL), runs alternating (off on off on ...).
//
//   node bench/results/tmp/js/bench/tracking/tracking-overhead.js [postgres | postgresql://...]
//
// `postgres` starts a private PostgreSQL cluster for the run (test/support/postgres-rig.ts: Debian's
// postgresql package, 127.0.0.1, a free port) and removes it afterwards; a URL uses a running server.
//
// Closed-loop peak at 16 connections, every session a message from a new client address and sender,
// so that every session is one record; the median sessions/s of each, and their ratio (issue: >= 0.9x).
// After each "on" run the service's own counters say whether the log kept up: records written,
// dropped, and the queue left. Settings (environment): TRACK_PAIRS (3), TRACK_DURATION (10 s).
// Writes bench/results/tracking-overhead.json.
import { request } from 'node:http';
import { machineInfo, median, sourceInfo, startMilter, writeResult } from '../milter-load/bench-support';
import { describe, runLoad, type Measured } from '../milter-load/load-runner';
import { freePort } from '../../test/support/ports';
import { startPostgres } from '../../test/support/postgres-rig';

const PAIRS = Number(process.env.TRACK_PAIRS ?? 3);
const DURATION = Number(process.env.TRACK_DURATION ?? 10);
let BACKEND = process.argv[2] ?? 'sqlite';

function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.once('end', () => resolve(body));
    });
    req.once('error', reject);
    req.end();
  });
}

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

let session = 0;
interface Run extends Measured {
  written?: number;
  dropped?: number;
  queued?: number;
}

async function measure(tracking: boolean): Promise<Run> {
  const port = await freePort();
  const milter = await startMilter('floodgate', { httpListen: `127.0.0.1:${port}`, tracking: tracking ? BACKEND : 'off' });
  try {
    session += 10_000_000;
    const m = await runLoad(milter, { connections: 16, durationS: DURATION, warmupS: 1, firstSession: session, processes: 2, message: true });
    // The writer flushes within 200 ms: what is still queued a second later did not keep up.
    await new Promise((r) => setTimeout(r, 1000));
    const text = await scrape(port);
    const counts = tracking
      ? {
          written: value(text, 'floodgate_tracking_records_written_total'),
          dropped: value(text, 'floodgate_tracking_records_dropped_total{reason="queue full"}') + value(text, 'floodgate_tracking_records_dropped_total{reason="database error"}'),
          queued: value(text, 'floodgate_tracking_queue'),
        }
      : {};
    console.log(`${(tracking ? `tracking ${BACKEND.startsWith('postgres') ? 'postgres' : BACKEND}` : 'tracking off').padEnd(17)} ${describe(m)}${tracking ? `  (${counts.written} written, ${counts.dropped} dropped, ${counts.queued} queued)` : ''}`);
    return { ...m, ...counts };
  } finally {
    await milter.stop();
  }
}

async function main(): Promise<void> {
  const cluster = BACKEND === 'postgres' ? await startPostgres() : undefined;
  if (cluster) BACKEND = cluster.url;
  try {
    await compare();
  } finally {
    await cluster?.destroy();
  }
}

async function compare(): Promise<void> {
  const off: Run[] = [];
  const on: Run[] = [];
  for (let pair = 0; pair < PAIRS; pair++) {
    for (const tracking of pair % 2 === 0 ? [false, true] : [true, false]) (tracking ? on : off).push(await measure(tracking));
  }
  const a = median(off.map((m) => m.sessions_per_s));
  const b = median(on.map((m) => m.sessions_per_s));
  console.log(`\nsessions/s (C=16, a message each): tracking off ${a.toFixed(0)}, on (${BACKEND.startsWith('postgres') ? 'postgres' : BACKEND}) ${b.toFixed(0)}, ratio ${(b / a).toFixed(3)}`);
  const file = writeResult(`tracking-overhead-${BACKEND.startsWith('postgres') ? 'postgres' : BACKEND}.json`, {
    machine: machineInfo(),
    source: sourceInfo(),
    pairs: PAIRS,
    duration_s: DURATION,
    off: off.map((m) => m.sessions_per_s),
    on: on.map((m) => ({ sessions_per_s: m.sessions_per_s, written: m.written, dropped: m.dropped, queued: m.queued })),
    ratio: Math.round((b / a) * 1000) / 1000,
  });
  console.log(`wrote ${file}`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
