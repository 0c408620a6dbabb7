// What tracking costs the milter (issue 16): the same build with tracking.backend off and with the
// tracking log on (SQLite under state_dir, or PostgreSQL).
//
//   npx tsc -p tsconfig.json --outDir bench/results/tmp/js
//   npx tsc -p tsconfig.build.json --outDir bench/results/tmp/floodgate && node scripts/build-web.js bench/results/tmp/floodgate/web
//   node bench/results/tmp/js/bench/tracking/tracking-overhead.js [postgres | postgresql://...]
//
// (The service under test serves /metrics, which the bench reads, so its build needs the web assets
// too; bench/run-all.sh builds bench/results/tmp/floodgate without them.)
//
// `postgres` starts a private PostgreSQL cluster for the run (test/support/postgres-rig.ts: Debian's
// postgresql package, 127.0.0.1, a free port) and removes it afterwards; a URL uses a running server.
//
// Closed-loop peak at 16 connections, every session a message from a new client address and sender,
// so that every session is one record; the ratio of sessions/s on to off (issue: >= 0.9x).
// TRACK_MODE=together (the default): each round runs both at once, each with its own load generator,
// the start order alternating; the ratio is the median of the rounds' own ratios. This machine's
// speed moves by a third or more within a minute, so two runs in turn compare two machines: at
// 0d1ab2e six rounds in turn gave ratios from 0.59 to 1.19, while runs side by side see the same
// moments (on 2 cores they also share them: each gets about half the machine).
// TRACK_MODE=turn: one at a time, alternating (off on, on off, ...), 2 generator processes each;
// the ratio of the medians.
// After each run with tracking on, the service's own counters say whether the log kept up: records
// written, dropped, and the queue left. Settings (environment): TRACK_PAIRS (rounds; 5 together,
// 3 pairs in turn), TRACK_DURATION (10 s). Writes bench/results/tracking-overhead-<backend>.json.
import { request } from 'node:http';
import { machineInfo, median, sourceInfo, startMilter, writeResult, type RunningMilter } from '../milter-load/bench-support';
import { describe, runLoad, type Measured } from '../milter-load/load-runner';
import { freePort } from '../../test/support/ports';
import { startPostgres } from '../../test/support/postgres-rig';

const MODE = process.env.TRACK_MODE ?? 'together';
if (MODE !== 'together' && MODE !== 'turn') throw new Error(`TRACK_MODE must be together or turn, not ${MODE}`);
const PAIRS = Number(process.env.TRACK_PAIRS ?? (MODE === 'together' ? 5 : 3));
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

/** The backend's name in lines and the result file's name: a PostgreSQL URL as `postgres`. */
function backendName(): string {
  return BACKEND.startsWith('postgres') ? 'postgres' : BACKEND;
}

function label(tracking: boolean): string {
  return tracking ? `tracking ${backendName()}` : 'tracking off';
}

interface Started {
  tracking: boolean;
  milter: RunningMilter;
  port: number;
}

async function start(tracking: boolean): Promise<Started> {
  const port = await freePort();
  const milter = await startMilter('floodgate', { httpListen: `127.0.0.1:${port}`, tracking: tracking ? BACKEND : 'off' });
  return { tracking, milter, port };
}

/** The peak of one running milter, loaded by `processes` generator processes; with tracking, the service's counters after it. */
async function load({ tracking, milter, port }: Started, processes: number): Promise<Run> {
  session += 10_000_000;
  const m = await runLoad(milter, { connections: 16, durationS: DURATION, warmupS: 1, firstSession: session, processes, message: true });
  if (!tracking) return m;
  // The writer flushes within a second: what is still queued a second later did not keep up.
  await new Promise((r) => setTimeout(r, 1000));
  const text = await scrape(port);
  return {
    ...m,
    written: value(text, 'floodgate_tracking_records_written_total'),
    dropped: value(text, 'floodgate_tracking_records_dropped_total{reason="queue full"}') + value(text, 'floodgate_tracking_records_dropped_total{reason="database error"}'),
    queued: value(text, 'floodgate_tracking_queue'),
  };
}

function report(tracking: boolean, run: Run): void {
  console.log(`${label(tracking).padEnd(17)} ${describe(run)}${tracking ? `  (${run.written} written, ${run.dropped} dropped, ${run.queued} queued)` : ''}`);
}

/** The two runs of one round, [off, on]: side by side (each with one generator process) or in turn (two each). */
async function round(index: number): Promise<[Run, Run]> {
  const order = index % 2 === 0 ? [false, true] : [true, false];
  const runs = new Map<boolean, Run>();
  if (MODE === 'turn') {
    for (const tracking of order) {
      const started = await start(tracking);
      try {
        runs.set(tracking, await load(started, 2));
      } finally {
        await started.milter.stop();
      }
    }
  } else {
    const started: Started[] = [];
    try {
      for (const tracking of order) started.push(await start(tracking));
      const loaded = await Promise.all(started.map((s) => load(s, 1)));
      started.forEach((s, i) => runs.set(s.tracking, loaded[i]!));
    } finally {
      for (const s of started) await s.milter.stop();
    }
  }
  for (const tracking of [false, true]) report(tracking, runs.get(tracking)!);
  return [runs.get(false)!, runs.get(true)!];
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
  for (let index = 0; index < PAIRS; index++) {
    const [a, b] = await round(index);
    off.push(a);
    on.push(b);
    if (MODE === 'together') console.log(`round ${index + 1}: ratio ${(b.sessions_per_s / a.sessions_per_s).toFixed(3)}\n`);
  }
  const a = median(off.map((m) => m.sessions_per_s));
  const b = median(on.map((m) => m.sessions_per_s));
  const rounds = on.map((m, i) => m.sessions_per_s / off[i]!.sessions_per_s);
  // Side by side each round's ratio is of the same moments; in turn only the medians compare.
  const ratio = MODE === 'together' ? median(rounds) : b / a;
  const backend = backendName();
  console.log(`\nsessions/s (C=16, a message each, ${MODE === 'together' ? 'side by side' : 'in turn'}): tracking off ${a.toFixed(0)}, on (${backend}) ${b.toFixed(0)} (medians); ` +
    `ratio ${ratio.toFixed(3)}${MODE === 'together' ? ` (median of the rounds' ${rounds.map((r) => r.toFixed(3)).join(', ')})` : ''}`);
  const file = writeResult(`tracking-overhead-${backend}.json`, {
    machine: machineInfo(),
    source: sourceInfo(),
    mode: MODE,
    pairs: PAIRS,
    duration_s: DURATION,
    off: off.map((m) => m.sessions_per_s),
    on: on.map((m) => ({ sessions_per_s: m.sessions_per_s, written: m.written, dropped: m.dropped, queued: m.queued })),
    ...(MODE === 'together' ? { round_ratios: rounds.map((r) => Math.round(r * 1000) / 1000) } : {}),
    ratio: Math.round(ratio * 1000) / 1000,
  });
  console.log(`wrote ${file}`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
