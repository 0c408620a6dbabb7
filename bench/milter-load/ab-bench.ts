// A/B benchmark: two Floodgate builds alternating run by run (A B A B ...), medians per build and their ratio.
//
// On a shared 2-core machine a single run says little: drift and other work move sessions/s by 10-20 %.
// Alternating the builds spreads that over both, and the medians of several pairs show what a change did.
//   node bench/results/tmp/js/bench/milter-load/ab-bench.js A=/path/a/dist/cli/main.js B=/path/b/dist/cli/main.js
// Settings (environment): AB_PAIRS (3), AB_LEVELS ("16,128": closed-loop envelope sessions), AB_DURATION (5 s),
// AB_HALF_PEAK (1: then RCPT latency in open loop at 128 connections at half of the lower build's median peak,
// the same rate for both), AB_MEMORY (1: Floodgate with store.backend memory). Prints a table; writes
// $BENCH_RESULTS/ab.json or bench/results/tmp/ab.json, never the committed results.
//
// AB_TOGETHER=<sessions/s> measures instead both builds at the same time, each at that fixed rate with a
// generator of its own, and compares the CPU each spends a session: its event-loop thread's, and all
// its threads' (Linux schedstat). Run one after the other, the same build varied by ±10-15 % between
// neighbouring runs on the 2-vCPU machine of December 2026; run together, both see the same moments
// and it varied by 2-3 % a round, so a change of a few percent shows. Which build starts first
// alternates (started second, the same build measured up to 12 % faster in closed loop).
// AB_MESSAGE (1: a message in each session), AB_TRACKING (off, or sqlite) apply to this mode.
import { readdirSync, readFileSync } from 'node:fs';
import { median, startMilter, TMP, writeResult, type RunningMilter } from './bench-support';
import { describe, runLoad, type Measured } from './load-runner';

const env = (name: string, fallback: string): string => process.env[name] ?? fallback;
const PAIRS = Number(env('AB_PAIRS', '3'));
const LEVELS = env('AB_LEVELS', '16,128').split(',').map(Number);
const DURATION = Number(env('AB_DURATION', '5'));
const HALF_PEAK = env('AB_HALF_PEAK', '1') === '1';
const MEMORY = env('AB_MEMORY', '0') === '1';
const TOGETHER = Number(env('AB_TOGETHER', '0'));
const MESSAGE = env('AB_MESSAGE', '0') === '1';
const TRACKING = env('AB_TRACKING', 'off');

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

/** CPU time each thread of a process has run, in ns, by thread id (schedstat's first field). */
function threadCpu(pid: number): Map<string, number> {
  const times = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      times.set(tid, Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]));
    } catch {
      // A thread that ended between the listing and the read.
    }
  }
  return times;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Both builds at once at TOGETHER sessions/s: µs of CPU a session, event loop and whole process, each pair. */
async function together(builds: [Build, Build]): Promise<Row[]> {
  const eventLoop: number[][] = [[], []];
  const whole: number[][] = [[], []];
  for (let pair = 0; pair < PAIRS; pair++) {
    const order = pair % 2 === 0 ? [0, 1] : [1, 0];
    const milters: RunningMilter[] = [];
    try {
      for (const i of order) milters[i] = await startMilter('floodgate', { cli: builds[i]!.cli, memoryStore: MEMORY, tracking: TRACKING });
      const loads = milters.map((milter) => {
        session += 10_000_000;
        return runLoad(milter, { connections: 32, durationS: DURATION + 2.5, warmupS: 0, firstSession: session, rate: TOGETHER, message: MESSAGE, processes: 1 });
      });
      // The window starts once both generators run at their rate, and ends before either stops.
      await sleep(1500);
      const before = milters.map((m) => threadCpu(m.mainPid));
      const started = performance.now();
      await sleep(DURATION * 1000);
      const after = milters.map((m) => threadCpu(m.mainPid));
      const seconds = (performance.now() - started) / 1000;
      const measured = await Promise.all(loads);
      const line = milters.map((milter, i) => {
        const sessions = measured[i]!.sessions_per_s * seconds;
        const ran = (tid: string): number => (after[i]!.get(tid) ?? 0) - (before[i]!.get(tid) ?? 0);
        eventLoop[i]!.push(ran(String(milter.mainPid)) / 1000 / sessions);
        whole[i]!.push([...after[i]!.keys()].reduce((sum, tid) => sum + ran(tid), 0) / 1000 / sessions);
        return `${builds[i]!.name} ${eventLoop[i]!.at(-1)!.toFixed(0)} / ${whole[i]!.at(-1)!.toFixed(0)} µs (${measured[i]!.sessions_per_s.toFixed(0)}/s)`;
      });
      console.log(`pair ${pair}: ${line.join('  ')}  (event loop / process, a session)`);
    } finally {
      for (const milter of milters) await milter?.stop();
    }
  }
  const label = `together ${TOGETHER}/s${MESSAGE ? ' message' : ''}${TRACKING !== 'off' ? ` ${TRACKING}` : ''}`;
  const paired = (runs: number[][]): string => runs[1]!.map((b, i) => (b / runs[0]![i]!).toFixed(3)).join(' ');
  console.log(`${builds[1].name}/${builds[0].name} a pair: event loop ${paired(eventLoop)}; process ${paired(whole)}`);
  return [row(label, 'loop µs/session', eventLoop[0]!, eventLoop[1]!), row(label, 'cpu µs/session', whole[0]!, whole[1]!)];
}

async function main(): Promise<void> {
  const [a, b] = builds() as [Build, Build];
  const rows: Row[] = [];
  if (TOGETHER > 0) rows.push(...(await together([a, b])));
  else await apart(a, b, rows);
  console.log(`\n${'case'.padEnd(26)} ${'metric'.padEnd(16)} ${a.name.padStart(10)} ${b.name.padStart(10)}  ${b.name}/${a.name}`);
  for (const r of rows) console.log(`${r.case.padEnd(26)} ${r.metric.padEnd(16)} ${String(Math.round(r.a)).padStart(10)} ${String(Math.round(r.b)).padStart(10)}  ${r.ratio.toFixed(3)}`);
  process.env.BENCH_RESULTS ??= TMP;
  const file = writeResult('ab.json', { started: new Date().toISOString(), builds: [a, b], settings: { PAIRS, LEVELS, DURATION, MEMORY, TOGETHER, MESSAGE, TRACKING }, rows });
  console.log(`\nwrote ${file}`);
}

/** One build after the other: closed-loop peaks, then RCPT latency at half of the lower one. */
async function apart(a: Build, b: Build, rows: Row[]): Promise<void> {
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
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
