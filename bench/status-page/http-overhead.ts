// What the HTTP side costs the milter (issue 15): Floodgate with the status page open and /metrics
// scraped every second against the same build with `http: off`, runs alternating (off on off on ...).
//
//   node scripts/build-web.js bench/results/tmp/floodgate/web   (after compiling the bench's build)
//   node bench/results/tmp/js/bench/status-page/http-overhead.js
//
// "Page open" is what web/app.js asks for while a postmaster watches: /api/status, /api/timeline,
// /api/recent and /api/top every POLL_MS, from one client, as a browser tab does. Prometheus is one
// scrape of /metrics a second. Closed-loop peak at 16 connections (median sessions/s of each), then
// RCPT latency in open loop at half the lower peak, 128 connections (median p99 of each).
// Settings (environment): HTTP_PAIRS (3), HTTP_DURATION (8 s), HTTP_HALF_RATE (skip the peak runs and
// measure latency at this rate). Writes bench/results/http-overhead.json.
import { request } from 'node:http';
import { machineInfo, median, sourceInfo, startMilter, writeResult } from '../milter-load/bench-support';
import { describe, runLoad, type Measured } from '../milter-load/load-runner';
import { freePort } from '../../test/support/ports';

const PAIRS = Number(process.env.HTTP_PAIRS ?? 3);
const DURATION = Number(process.env.HTTP_DURATION ?? 8);
/** The page's refresh interval (web/app.js). */
const POLL_MS = 3000;
const PAGE_REQUESTS = ['/api/status', '/api/timeline', '/api/recent?limit=100', '/api/top?limit=20'];

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.once('end', () => resolve(bytes));
    });
    req.once('error', () => resolve(0));
    req.end();
  });
}

/** Polls like an open page plus a Prometheus scrape a second, until stopped; returns requests made and bytes read. */
function watchers(port: number): { stop(): Promise<{ requests: number; bytes: number }> } {
  let running = true;
  let requests = 0;
  let bytes = 0;
  const loop = async (paths: string[], everyMs: number) => {
    while (running) {
      const started = Date.now();
      for (const path of paths) {
        bytes += await get(port, path);
        requests++;
      }
      await new Promise((r) => setTimeout(r, Math.max(0, everyMs - (Date.now() - started))));
    }
  };
  const done = Promise.all([loop(PAGE_REQUESTS, POLL_MS), loop(['/metrics'], 1000)]);
  return {
    async stop() {
      running = false;
      await done;
      return { requests, bytes };
    },
  };
}

let session = 0;
async function measure(http: boolean, connections: number, rate?: number): Promise<Measured & { http_requests: number }> {
  const port = http ? await freePort() : undefined;
  const milter = await startMilter('floodgate', port === undefined ? {} : { httpListen: `127.0.0.1:${port}` });
  const watching = port === undefined ? undefined : watchers(port);
  try {
    session += 10_000_000;
    const m = await runLoad(milter, { connections, durationS: DURATION, warmupS: 1, firstSession: session, rate, processes: Math.min(connections, Math.max(2, Math.ceil(connections / 16))) });
    const polled = await watching?.stop();
    console.log(`${(http ? 'http on' : 'http off').padEnd(9)} ${describe(m)}${polled ? `  (${polled.requests} HTTP requests, ${Math.round(polled.bytes / 1024)} KiB)` : ''}`);
    return { ...m, http_requests: polled?.requests ?? 0 };
  } finally {
    await watching?.stop();
    await milter.stop();
  }
}

async function alternate(connections: number, rate?: number): Promise<[Measured[], Measured[]]> {
  const off: Measured[] = [];
  const on: Measured[] = [];
  for (let pair = 0; pair < PAIRS; pair++) {
    for (const http of pair % 2 === 0 ? [false, true] : [true, false]) (http ? on : off).push(await measure(http, connections, rate));
  }
  return [off, on];
}

async function main(): Promise<void> {
  const givenRate = process.env.HTTP_HALF_RATE === undefined ? undefined : Number(process.env.HTTP_HALF_RATE);
  const [peakOff, peakOn] = givenRate === undefined ? await alternate(16) : [[], []];
  const offPeak = median(peakOff.map((m) => m.sessions_per_s));
  const onPeak = median(peakOn.map((m) => m.sessions_per_s));
  const rate = givenRate ?? Math.round(Math.min(offPeak, onPeak) / 2);
  const [halfOff, halfOn] = await alternate(128, rate);
  const p99 = (runs: Measured[]) => median(runs.map((m) => m.stages.rcpt?.p99_us ?? NaN)) / 1000;
  console.log(`\npeak sessions/s (C=16):      http off ${offPeak.toFixed(0)}, page + metrics ${onPeak.toFixed(0)}, ratio ${(onPeak / offPeak).toFixed(3)}`);
  console.log(`RCPT p99 at ${rate}/s (C=128): http off ${p99(halfOff).toFixed(2)} ms, page + metrics ${p99(halfOn).toFixed(2)} ms`);
  const file = writeResult('http-overhead.json', {
    machine: machineInfo(),
    source: sourceInfo(),
    pairs: PAIRS,
    duration_s: DURATION,
    poll_ms: POLL_MS,
    peak: { off: peakOff.map((m) => m.sessions_per_s), on: peakOn.map((m) => m.sessions_per_s), ratio: Math.round((onPeak / offPeak) * 1000) / 1000 },
    half_peak: { rate, off_rcpt_p99_ms: halfOff.map((m) => (m.stages.rcpt?.p99_us ?? NaN) / 1000), on_rcpt_p99_ms: halfOn.map((m) => (m.stages.rcpt?.p99_us ?? NaN) / 1000) },
  });
  console.log(`wrote ${file}`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
