// Milter-protocol benchmark: Floodgate against the C libmilter references, driven by milter-load without an MTA.
//
// Run through bench/run-all.sh (it builds milter-load, the references and Floodgate), or by hand:
//   npx tsc -p tsconfig.json --outDir bench/results/tmp/js && node bench/results/tmp/js/bench/milter-load/milter-bench.js
// Settings (environment): BENCH_RUNS (5), BENCH_DURATION (5 s measured per run), BENCH_WARMUP (1 s),
// BENCH_LEVELS (connections for the throughput curve, "1,4,16,64,128,256"), BENCH_KEY_LEVELS ("16,128":
// the levels measured BENCH_RUNS times), BENCH_MESSAGE_RUNS (3). Writes bench/results/milter.json.
// Every measurement starts its milter afresh (Floodgate with an empty LevelDB) and the milters
// alternate (A B C A B C ...), so that drift on a shared machine spreads over all of them.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BIN, machineInfo, median, sourceInfo, startMilter, writeResult, type MilterKind, type RunningMilter } from './bench-support';
import { describe, runLoad, type LoadOptions, type Measured } from './load-runner';

const env = (name: string, fallback: string): string => process.env[name] ?? fallback;
const RUNS = Number(env('BENCH_RUNS', '5'));
const DURATION = Number(env('BENCH_DURATION', '5'));
const WARMUP = Number(env('BENCH_WARMUP', '1'));
const LEVELS = env('BENCH_LEVELS', '1,4,16,64,128,256').split(',').map(Number);
const KEY_LEVELS = env('BENCH_KEY_LEVELS', '16,128').split(',').map(Number);
const MESSAGE_RUNS = Number(env('BENCH_MESSAGE_RUNS', '3'));
/** Open-loop runs at half peak: the p99 of one 5 s run ranged 0.5-9 ms on this machine, so the median of several. */
const HALF_PEAK_RUNS = Number(env('BENCH_HALF_PEAK_RUNS', '5'));
/** ref-accept is built from bench/ref-milter/ref.c when it is there (run-all.sh). */
const ENVELOPE_MILTERS: MilterKind[] = existsSync(join(BIN, 'ref-accept')) ? ['ref-accept', 'ref-count', 'floodgate'] : ['ref-count', 'floodgate'];

let session = 0;
/** Each run starts at new session numbers, so its client addresses and senders are new to the milter. */
function nextFirstSession(): number {
  session += 10_000_000;
  return session;
}

/**
 * Generator processes for a number of connections. Linux shares the CPU per thread and libmilter runs
 * a thread per connection, so a single generator process is starved at high concurrency: one process
 * per 16 connections (at least 2), which generatorCheck() shows to be past the point where the C
 * reference stops speeding up.
 */
function generatorProcesses(connections: number): number {
  return Math.min(connections, Math.max(2, Math.ceil(connections / 16)));
}

async function measure(kind: MilterKind, load: Omit<LoadOptions, 'durationS' | 'warmupS'>, running?: RunningMilter): Promise<Measured> {
  const milter = running ?? (await startMilter(kind));
  try {
    const processes = load.processes ?? generatorProcesses(load.connections);
    const m = await runLoad(milter, { durationS: DURATION, warmupS: WARMUP, firstSession: nextFirstSession(), ...load, processes });
    console.log(describe(m));
    return m;
  } finally {
    if (!running) await milter.stop();
  }
}

/** The C reference's sessions/s must not rise with more generator processes, or the generator is the bottleneck. */
async function generatorCheck(): Promise<Measured[]> {
  console.log('\n== generator check: ref-count driven by 1 generator process, the number used, and twice that');
  const out: Measured[] = [];
  for (const connections of KEY_LEVELS) {
    const used = generatorProcesses(connections);
    for (const processes of [...new Set([1, used, Math.min(connections, used * 2)])]) out.push(await measure('ref-count', { connections, processes }));
  }
  return out;
}

interface Point {
  milter: string;
  connections: number;
  runs: number;
  sessions_per_s: number;
  rcpt_p50_us: number;
  rcpt_p99_us: number;
  rcpt_p999_us: number;
  milter_cpu_cores: number;
  other_cpu_cores: number;
  errors: number;
  non_continue_rcpt: number;
}

function summarise(runs: Measured[]): Point[] {
  const groups = new Map<string, Measured[]>();
  for (const m of runs) {
    const key = `${m.milter}|${m.connections}`;
    groups.set(key, [...(groups.get(key) ?? []), m]);
  }
  return [...groups.values()].map((g) => ({
    milter: g[0]!.milter,
    connections: g[0]!.connections,
    runs: g.length,
    sessions_per_s: Math.round(median(g.map((m) => m.sessions_per_s))),
    rcpt_p50_us: median(g.map((m) => m.stages.rcpt?.p50_us ?? NaN)),
    rcpt_p99_us: median(g.map((m) => m.stages.rcpt?.p99_us ?? NaN)),
    rcpt_p999_us: median(g.map((m) => m.stages.rcpt?.p999_us ?? NaN)),
    milter_cpu_cores: median(g.map((m) => m.milter_cpu_cores)),
    other_cpu_cores: median(g.map((m) => m.other_cpu_cores)),
    errors: g.reduce((sum, m) => sum + m.error_count, 0),
    non_continue_rcpt: g.reduce((sum, m) => sum + Object.entries(m.stages.rcpt?.verdicts ?? {}).filter(([k]) => k !== 'c').reduce((s, [, v]) => s + v, 0), 0),
  }));
}

/** Throughput against concurrency; the key levels run RUNS times, the others once; milters alternate. */
async function sweep(): Promise<{ runs: Measured[]; points: Point[] }> {
  console.log(`\n== envelope sessions (OPTNEG, CONNECT, HELO, MAIL, 2 x RCPT, ABORT, QUIT): ${ENVELOPE_MILTERS.join(', ')} (and floodgate-memory, node-floor at ${KEY_LEVELS.join(', ')})`);
  const runs: Measured[] = [];
  for (let run = 0; run < RUNS; run++) {
    const levels = run === 0 ? LEVELS : KEY_LEVELS;
    for (const connections of levels) {
      // At the key levels also Floodgate on its memory store (how much of the gap is the LevelDB round
      // trip) and node-floor.js, what Node's socket layer alone costs: issue 20's targets are ratios to it.
      const kinds: MilterKind[] = KEY_LEVELS.includes(connections) ? [...ENVELOPE_MILTERS, 'floodgate-memory', 'node-floor'] : ENVELOPE_MILTERS;
      for (const kind of kinds) runs.push(await measure(kind, { connections }));
    }
  }
  return { runs, points: summarise(runs) };
}

/** RCPT latency with Floodgate at half its peak rate (open loop); the C reference and Floodgate's memory store at the same rate. */
async function halfPeak(points: Point[]): Promise<{ peak: number; rate: number; runs: Measured[]; points: Array<Point & { rate: number }> }> {
  const peak = Math.max(...points.filter((p) => p.milter === 'floodgate').map((p) => p.sessions_per_s));
  const rate = Math.round(peak / 2);
  console.log(`\n== latency at half of Floodgate's peak (${peak} sessions/s): ${rate} sessions/s, open loop`);
  const runs: Measured[] = [];
  for (let run = 0; run < HALF_PEAK_RUNS; run++) {
    for (const kind of ['ref-count', 'floodgate', 'floodgate-memory'] as const) runs.push(await measure(kind, { connections: 128, rate }));
  }
  return { peak, rate, runs, points: summarise(runs).map((p) => ({ ...p, rate })) };
}

/** Full messages at 16 connections; rspamd's ratelimit only decides at end of message, so it joins here. */
async function messages(): Promise<{ runs: Measured[]; points: Point[]; eom: Array<{ milter: string; eom_p50_us: number; eom_p99_us: number }> }> {
  console.log('\n== full messages (DATA, 8 headers, EOH, 2 KiB body, EOM) at 16 connections, rspamd included');
  const rspamd = await startMilter('rspamd');
  const runs: Measured[] = [];
  try {
    for (let run = 0; run < MESSAGE_RUNS; run++) {
      for (const kind of [...ENVELOPE_MILTERS, 'rspamd'] as const) {
        runs.push(await measure(kind, { connections: 16, message: true }, kind === 'rspamd' ? rspamd : undefined));
      }
    }
  } finally {
    await rspamd.stop();
  }
  const points = summarise(runs);
  const eom = points.map((p) => {
    const mine = runs.filter((m) => m.milter === p.milter);
    return { milter: p.milter, eom_p50_us: median(mine.map((m) => m.stages.eom?.p50_us ?? NaN)), eom_p99_us: median(mine.map((m) => m.stages.eom?.p99_us ?? NaN)) };
  });
  return { runs, points, eom };
}

async function main(): Promise<void> {
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const generator = await generatorCheck();
  const envelope = await sweep();
  const latency = await halfPeak(envelope.points);
  const message = await messages();
  const seconds = Math.round((performance.now() - started) / 1000);
  const file = writeResult('milter.json', {
    meta: { started: startedAt, seconds, source: sourceInfo(), machine: machineInfo(), settings: { RUNS, DURATION, WARMUP, LEVELS, KEY_LEVELS, MESSAGE_RUNS, HALF_PEAK_RUNS, rcpts: 2 } },
    generatorCheck: generator,
    envelope,
    halfPeak: latency,
    message,
  });
  console.log(`\nwrote ${file} (${seconds} s)`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
