// A/B benchmark: two Floodgate builds alternating run by run (A B A B ...), medians per build and their ratio.
//
// On a shared 2-core machine a single run says little: drift and other work move sessions/s by 10-20 %.
// Alternating the builds spreads that over both, and the medians of several pairs show what a change did.
//   node bench/results/tmp/js/bench/milter-load/ab-bench.js A=/path/a/dist/cli/main.js B=/path/b/dist/cli/main.js
// Settings (environment): AB_PAIRS (3), AB_LEVELS ("16,128": closed-loop envelope sessions), AB_DURATION (5 s),
// AB_HALF_PEAK (1: then RCPT latency in open loop at 128 connections at half of the lower build's median peak,
// the same rate for both), AB_MEMORY (1: Floodgate with store.backend memory). Prints a table; writes
// $BENCH_RESULTS/ab.json or bench/results/tmp/ab.json, never the committed results.
import { median, startMilter, TMP, writeResult } from './bench-support';
import { describe, runLoad, type Measured } from './load-runner';

const env = (name: string, fallback: string): string => process.env[name] ?? fallback;
const PAIRS = Number(env('AB_PAIRS', '3'));
const LEVELS = env('AB_LEVELS', '16,128').split(',').map(Number);
const DURATION = Number(env('AB_DURATION', '5'));
const HALF_PEAK = env('AB_HALF_PEAK', '1') === '1';
const MEMORY = env('AB_MEMORY', '0') === '1';

interface Build { name: string; cli: string }

function builds(): Build[] {
  const named = process.argv.slice(2).map((arg) => /^([^=]+)=(.+)$/.exec(arg)).filter((m): m is RegExpExecArray => m !== null);
  if (named.length !== 2) throw new Error('usage: ab-bench.js A=<cli/main.js> B=<cli/main.js>');
  return named.map((m) => ({ name: m[1]!, cli: m[2]! }));
}

let session = 0;
async function measure(build: Build, connections: number, rate?: number): Promise<Measured> {
  const milter = await startMilter('floodgate', { cli: build.cli, memoryStore: MEMORY });
  try {
    session += 10_000_000; // every run meets new client addresses and senders
    const m = await runLoad(milter, {
      connections, durationS: DURATION, warmupS: 1, firstSession: session, rate,
      processes: Math.min(connections, Math.max(2, Math.ceil(connections / 16))),
    });
    console.log(`${build.name.padEnd(6)} ${describe(m)}`);
    return { ...m, milter: build.name };
  } finally {
    await milter.stop();
  }
}

interface Row { case: string; metric: string; a: number; b: number; ratio: number; a_runs: number[]; b_runs: number[] }

function row(label: string, metric: string, a: number[], b: number[]): Row {
  const ma = median(a);
  const mb = median(b);
  return { case: label, metric, a: ma, b: mb, ratio: Math.round((mb / ma) * 1000) / 1000, a_runs: a, b_runs: b };
}

async function main(): Promise<void> {
  const [a, b] = builds() as [Build, Build];
  const rows: Row[] = [];
  const peaks: number[][] = [[], []];
  for (const connections of LEVELS) {
    const runs: Measured[][] = [[], []];
    for (let pair = 0; pair < PAIRS; pair++) {
      // Which build goes first alternates too, so neither always runs on a machine warmed by the other.
      const order = pair % 2 === 0 ? [0, 1] : [1, 0];
      for (const i of order) runs[i]!.push(await measure(i === 0 ? a : b, connections));
    }
    runs.forEach((r, i) => peaks[i]!.push(median(r.map((m) => m.sessions_per_s))));
    rows.push(row(`C=${connections}`, 'sessions/s', runs[0]!.map((m) => m.sessions_per_s), runs[1]!.map((m) => m.sessions_per_s)));
    rows.push(row(`C=${connections}`, 'rcpt p99 us', runs[0]!.map((m) => m.stages.rcpt?.p99_us ?? NaN), runs[1]!.map((m) => m.stages.rcpt?.p99_us ?? NaN)));
  }
  if (HALF_PEAK) {
    const rate = Math.round(Math.min(Math.max(...peaks[0]!), Math.max(...peaks[1]!)) / 2);
    const runs: Measured[][] = [[], []];
    for (let pair = 0; pair < PAIRS; pair++) {
      const order = pair % 2 === 0 ? [0, 1] : [1, 0];
      for (const i of order) runs[i]!.push(await measure(i === 0 ? a : b, 128, rate));
    }
    for (const metric of ['p50_us', 'p99_us', 'p999_us'] as const) {
      rows.push(row(`open loop ${rate}/s C=128`, `rcpt ${metric}`, runs[0]!.map((m) => m.stages.rcpt?.[metric] ?? NaN), runs[1]!.map((m) => m.stages.rcpt?.[metric] ?? NaN)));
    }
  }
  console.log(`\n${'case'.padEnd(26)} ${'metric'.padEnd(14)} ${a.name.padStart(10)} ${b.name.padStart(10)}  ${b.name}/${a.name}`);
  for (const r of rows) console.log(`${r.case.padEnd(26)} ${r.metric.padEnd(14)} ${String(Math.round(r.a)).padStart(10)} ${String(Math.round(r.b)).padStart(10)}  ${r.ratio.toFixed(3)}`);
  process.env.BENCH_RESULTS ??= TMP;
  const file = writeResult('ab.json', { started: new Date().toISOString(), builds: [a, b], settings: { PAIRS, LEVELS, DURATION, MEMORY }, rows });
  console.log(`\nwrote ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
