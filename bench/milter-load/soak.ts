// Soak: Floodgate's memory over a long flood of new keys that expire, so the live keys stay bounded (issue 21).
//
//   node bench/results/tmp/js/bench/milter-load/soak.js [minutes] [peak|half|SESSIONS_PER_S]
//
// Every session brings a new client address and a new sender (4,000,000 of each), every key class's
// half-life is 10 s (the shipped rules otherwise), so a key expires about a minute after its last
// point and the sweeper removes it within the next minute: the live keys level off within ~2 minutes
// and any later growth of the process is memory that is not given back. `peak` drives Floodgate as
// fast as it answers on 4 connections; `half` first measures that rate (15 s on a separate instance)
// and then runs at half of it in open loop. Every 15 s it records RSS (from /proc) and, from a sampler
// preloaded into Floodgate (memory-sampler.js), the V8 heap, external memory, ArrayBuffers and the
// malloc heap (brk) and the event loop's lag (p99 and max since the last sample, p99 over the run);
// the stored records come from the sweeper's log line, the LevelDB directory's size from its files
// (also read every second: see leveldbMean).
// Prints a table, the growth of RSS between minute 2 and the end, the distinct keys the run brought
// and the directory's size at minute 2 and at the end; writes bench/results/soak-<mode>.json.
// test/soak/level-memory.test.ts runs 3 minutes of it in the suite.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { REPO, SHIPPED_RULES, TMP, machineInfo, processMemory, sourceInfo, startMilter, writeResult, type RunningMilter } from './bench-support';
import { runLoad, type Measured } from './load-runner';

export interface SoakOptions {
  minutes: number;
  /** `peak`: closed loop on 4 connections; `half`: half of the measured peak; a number: that many sessions/s. */
  rate: 'peak' | 'half' | number;
  /** Half-life of every key class (default 10 s). */
  halfLife?: string;
  /** store.sweep_interval (default: the shipped 60 s). */
  sweepInterval?: string;
  sampleSeconds?: number;
  /** The compiled CLI to run (default: the bench's build). */
  cli?: string;
  /** Prints each sample as it is taken. */
  progress?: (line: string) => void;
}

export interface SoakSample {
  t_s: number;
  rss_mib: number;
  /** RSS of anonymous memory (heaps: V8's, malloc's) and of mapped files (the node binary, LevelDB's tables). */
  rss_anon_mib: number;
  rss_file_mib: number;
  heap_used_mib: number;
  heap_total_mib: number;
  external_mib: number;
  array_buffers_mib: number;
  malloc_heap_mib: number;
  /** Records stored after the last sweep that removed some (undefined before the first). */
  records: number | undefined;
  /** Bytes of the LevelDB directory's files: bounded by the live keys, or growing with every key ever seen. */
  leveldb_mib: number;
  /** Event-loop lag since the previous sample (p99, max) and over the run so far (p99), from the sampler. */
  loop_lag_p99_ms: number;
  loop_lag_max_ms: number;
  loop_lag_p99_run_ms: number;
  /** MTA connections (SMTP sessions) the service had accepted at the sampler's line, and that line's time. */
  sessions: number;
  sessions_t_s: number;
}

export interface LeveldbSize {
  t_s: number;
  mib: number;
}

/** The service's "expired scores swept" log line. */
export interface SweepLine {
  removed: number;
  records?: number;
  elapsed_ms: number;
  trim_ms?: number;
  rss_mib?: number;
}

export interface SoakResult {
  mode: string;
  minutes: number;
  half_life: string;
  sessions_per_s_target: number | null;
  load: Measured;
  samples: SoakSample[];
  /** Every sweep that removed records, from the service's log. */
  sweeps: SweepLine[];
  /** RSS growth in percent from `fromS` to `toS` (default: the end); see rssAround(). */
  growth(fromS: number, toS?: number): number;
  /**
   * The mean of the records stored after each sweep, as sampled from `fromS` to `toS` (undefined
   * before the first sweep). What one sweep leaves swings by half either way (sampled 67,914 to
   * 135,971 within one minute of a CI run), with where the sweep falls among the keys' expiries: only
   * a mean over a minute compares like with like.
   */
  recordsMean(fromS: number, toS: number): number | undefined;
  /** Sessions/s the service accepted from `fromS` to `toS` (its sampler's lines nearest those times). */
  sessionRate(fromS: number, toS: number): number;
  /**
   * recordsMean and leveldbMean per session/s: each sample's value divided by the session rate of the
   * RATE_WINDOW_S seconds before it (the keys a sweep keeps came in then), averaged over the samples
   * from `fromS` to `toS`. The live keys follow the rate, which this machine's speed moved by a third
   * within a minute (a CI run failed on 173,522 records against 132,890 a minute before): per session
   * they compare the store's bound, not the machine's speed.
   */
  recordsPerRate(fromS: number, toS: number): number;
  leveldbPerRate(fromS: number, toS: number): number;
  /**
   * The LevelDB directory's mean size (MiB) from `fromS` to `toS`, of its size read every second
   * (leveldbSizes): it saw-tooths between ~9 and ~35 MiB as its 4 MiB log fills and is turned into
   * tables and compactions write new tables before deleting old ones, so only a mean over a minute
   * compares like with like, and only of readings taken often: the spikes last a second or two, and
   * a reading every 5 s falls in step with the 10-s sweeps. One run read both ways: minute 3 against
   * minute 2 was 0.97 from the readings of every second, 0.80 to 1.17 from those of every fifth
   * second depending on which (a CI run failed on 1.27 from readings every 5 s).
   */
  leveldbMean(fromS: number, toS: number): number;
  /** The LevelDB directory's size, read every second. */
  leveldbSizes: LeveldbSize[];
  /** Distinct keys the sessions brought (see distinctKeys()). */
  distinctKeys: number;
  /** Event-loop lag p99 over the whole run (ms), from the sampler's last line. */
  loopLagP99Ms: number;
}

const CONNECTIONS = 4;
/** How often the LevelDB directory's size is read (see leveldbMean). */
const LEVELDB_SAMPLE_MS = 1000;
/** milter-load spreads clients over a /10: at most 4,194,304 addresses. */
const DISTINCT = 4_000_000;
const MIB = 1024 * 1024;

/** The shipped rules with every key class's half-life set to `halfLife`. */
export function rulesWithHalfLife(halfLife: string): string {
  const shipped = readFileSync(SHIPPED_RULES, 'utf8');
  const replaced = shipped.replace(/half_life: [0-9.]+[a-z]*/g, `half_life: ${halfLife}`);
  if (replaced === shipped) throw new Error(`${SHIPPED_RULES} has no half_life the soak could shorten`);
  return replaced;
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const halfLife = options.halfLife ?? '10s';
  const sampleMs = (options.sampleSeconds ?? 15) * 1000;
  mkdirSync(TMP, { recursive: true });
  const dir = mkdtempSync(join(TMP, 'soak-'));
  const rules = join(dir, 'rules.yml');
  writeFileSync(rules, rulesWithHalfLife(halfLife));
  const rate = await targetRate(options.rate, rules, options.cli);
  const samplesFile = join(dir, 'memory.jsonl');
  const stateDir = join(dir, 'state');
  mkdirSync(stateDir);
  const milter = await startMilter('floodgate', {
    rules,
    stateDir,
    ...(options.cli ? { cli: options.cli } : {}),
    ...(options.sweepInterval ? { sweepInterval: options.sweepInterval } : {}),
    nodeArgs: ['--require', join(REPO, 'bench', 'milter-load', 'memory-sampler.js')],
    env: { FLOODGATE_MEMORY_SAMPLES: samplesFile, FLOODGATE_MEMORY_SAMPLE_MS: String(sampleMs) },
  });
  const samples: SoakSample[] = [];
  const leveldbSizes: LeveldbSize[] = [];
  const started = performance.now();
  const timer = setInterval(() => {
    // The table's LevelDB column is the latest of the readings below, not a second read of the directory.
    const sample = takeSample(milter, samplesFile, leveldbSizes[leveldbSizes.length - 1]?.mib ?? NaN, (performance.now() - started) / 1000);
    samples.push(sample);
    options.progress?.(formatSample(sample));
  }, sampleMs);
  const sizeTimer = setInterval(() => {
    leveldbSizes.push({ t_s: (performance.now() - started) / 1000, mib: directoryBytes(join(stateDir, 'scores')) / MIB });
  }, LEVELDB_SAMPLE_MS);
  try {
    const load = await runLoad(milter, {
      connections: CONNECTIONS,
      durationS: Math.round(options.minutes * 60),
      warmupS: 0,
      ...(rate === undefined ? {} : { rate }),
      clientIps: DISTINCT,
      senders: DISTINCT,
      label: `soak ${options.rate}`,
    });
    clearInterval(timer);
    clearInterval(sizeTimer);
    return {
      sweeps: sweptLines(milter.log()),
      mode: String(options.rate),
      minutes: options.minutes,
      half_life: halfLife,
      sessions_per_s_target: rate ?? null,
      load,
      samples,
      growth: (fromS, toS) => growth(samples, fromS, toS ?? samples[samples.length - 1]?.t_s ?? fromS),
      recordsMean: (fromS, toS) => {
        const counts = samples.filter((s) => s.t_s >= fromS && s.t_s <= toS && s.records !== undefined).map((s) => s.records!);
        return counts.length === 0 ? undefined : Math.round(counts.reduce((sum, n) => sum + n, 0) / counts.length);
      },
      sessionRate: (fromS, toS) => sessionRate(samples, fromS, toS),
      recordsPerRate: (fromS, toS) => perRateMean(samples, samples, fromS, toS, (s) => s.records),
      leveldbPerRate: (fromS, toS) => perRateMean(samples, leveldbSizes, fromS, toS, (s) => s.mib),
      leveldbMean: (fromS, toS) => {
        const window = leveldbSizes.filter((s) => s.t_s >= fromS && s.t_s <= toS && !Number.isNaN(s.mib));
        return round1(window.reduce((sum, s) => sum + s.mib, 0) / window.length);
      },
      leveldbSizes,
      distinctKeys: distinctKeys(load.sessions),
      loopLagP99Ms: samples[samples.length - 1]?.loop_lag_p99_run_ms ?? NaN,
    };
  } finally {
    clearInterval(timer);
    clearInterval(sizeTimer);
    await milter.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Sessions/s for milter-load's -R, or undefined for closed loop (peak). */
async function targetRate(rate: SoakOptions['rate'], rules: string, cli: string | undefined): Promise<number | undefined> {
  if (rate === 'peak') return undefined;
  if (typeof rate === 'number') return rate;
  const probe = await startMilter('floodgate', { rules, ...(cli ? { cli } : {}) });
  try {
    const peak = await runLoad(probe, { connections: CONNECTIONS, durationS: 15, warmupS: 3, clientIps: DISTINCT, senders: DISTINCT, label: 'soak peak probe' });
    return Math.round(peak.sessions_per_s / 2);
  } finally {
    await probe.stop();
  }
}

/**
 * Keys the shipped rules' classes get from `sessions` sessions of milter-load: session s has client
 * address s mod DISTINCT and sender s mod DISTINCT (worker.c), so ip, sender and ip+sender each bring
 * min(sessions, DISTINCT) keys, and the addresses spread over the 16,384 /24s of a /10 (network keys).
 */
export function distinctKeys(sessions: number): number {
  const perClass = Math.min(sessions, DISTINCT);
  return 3 * perClass + Math.min(sessions, 16_384);
}

/** Sum of the sizes of the files in `dir` (LevelDB's is flat). */
function directoryBytes(dir: string): number {
  let bytes = 0;
  try {
    for (const name of readdirSync(dir)) {
      try {
        bytes += statSync(join(dir, name)).size;
      } catch {
        // removed by a compaction between the listing and the stat
      }
    }
  } catch {
    return NaN;
  }
  return bytes;
}

function takeSample(milter: RunningMilter, samplesFile: string, leveldbMib: number, tS: number): SoakSample {
  const memory = processMemory(milter.mainPid);
  const inner = lastSamplerLine(samplesFile);
  return {
    t_s: Math.round(tS),
    rss_mib: round1(memory.rssMiB),
    rss_anon_mib: round1(memory.anonMiB),
    rss_file_mib: round1(memory.fileMiB),
    heap_used_mib: mib(inner?.heap_used),
    heap_total_mib: mib(inner?.heap_total),
    external_mib: mib(inner?.external),
    array_buffers_mib: mib(inner?.array_buffers),
    malloc_heap_mib: mib(inner?.malloc_heap),
    records: lastSweptRecords(milter.log()),
    leveldb_mib: round1(leveldbMib),
    loop_lag_p99_ms: inner?.loop_lag_p99_ms ?? NaN,
    loop_lag_max_ms: inner?.loop_lag_max_ms ?? NaN,
    loop_lag_p99_run_ms: inner?.loop_lag_p99_run_ms ?? NaN,
    sessions: inner?.sessions ?? NaN,
    sessions_t_s: inner === undefined ? NaN : inner.t_ms / 1000,
  };
}

/** Seconds of sessions before a sample that a per-rate value divides by: about a key's life after its last point. */
const RATE_WINDOW_S = 20;

/** The mean over the readings from `fromS` to `toS` of value / the session rate (from `samples`) of the RATE_WINDOW_S before each. */
function perRateMean<T extends { t_s: number }>(samples: readonly SoakSample[], readings: readonly T[], fromS: number, toS: number, value: (reading: T) => number | undefined): number {
  const ratios = readings
    .filter((s) => s.t_s >= fromS && s.t_s <= toS)
    .map((s) => (value(s) ?? NaN) / sessionRate(samples, s.t_s - RATE_WINDOW_S, s.t_s))
    .filter((ratio) => Number.isFinite(ratio));
  return ratios.length === 0 ? NaN : ratios.reduce((sum, r) => sum + r, 0) / ratios.length;
}

/** Sessions/s between the samples nearest `fromS` and `toS`, timed by the sampler's own lines. */
function sessionRate(samples: readonly SoakSample[], fromS: number, toS: number): number {
  const counted = samples.filter((s) => !Number.isNaN(s.sessions));
  const nearest = (t: number): SoakSample | undefined => counted.reduce<SoakSample | undefined>((best, s) => (best === undefined || Math.abs(s.t_s - t) < Math.abs(best.t_s - t) ? s : best), undefined);
  const from = nearest(fromS);
  const to = nearest(toS);
  if (from === undefined || to === undefined || to.sessions_t_s <= from.sessions_t_s) return NaN;
  return (to.sessions - from.sessions) / (to.sessions_t_s - from.sessions_t_s);
}

interface SamplerLine {
  heap_used: number;
  heap_total: number;
  external: number;
  array_buffers: number;
  malloc_heap: number;
  loop_lag_p99_ms?: number;
  loop_lag_max_ms?: number;
  loop_lag_p99_run_ms?: number;
  t_ms: number;
  sessions?: number;
}

function lastSamplerLine(file: string): SamplerLine | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.trim().split('\n');
  return lines.length > 0 && lines[lines.length - 1] !== '' ? (JSON.parse(lines[lines.length - 1]!) as SamplerLine) : undefined;
}

/** The service's "expired scores swept" log lines, in order. */
export function sweptLines(log: string): SweepLine[] {
  return log.split('\n').filter((line) => line.includes('"expired scores swept"')).map((line) => JSON.parse(line) as SweepLine);
}

/** The `records` of the service's last "expired scores swept" log line. */
export function lastSweptRecords(log: string): number | undefined {
  return sweptLines(log).pop()?.records;
}

function mib(bytes: number | undefined): number {
  return bytes === undefined ? NaN : round1(bytes / MIB);
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

/**
 * RSS at `tS`: the lowest sample within WINDOW_S of it. A sweep and the compaction after it map every
 * LevelDB table for a moment (~30 MiB of file pages seen) and allocate for seconds; growth means that
 * memory is not given back, which the lowest sample shows and a single sample may hide or invent.
 */
export function rssAround(samples: readonly SoakSample[], tS: number): number {
  const near = samples.filter((s) => Math.abs(s.t_s - tS) <= WINDOW_S);
  const pool = near.length > 0 ? near : [nearest(samples, tS)].filter((s): s is SoakSample => s !== undefined);
  if (pool.length === 0) throw new Error('soak: no samples');
  return Math.min(...pool.map((s) => s.rss_mib));
}

const WINDOW_S = 15;

function growth(samples: readonly SoakSample[], fromS: number, toS: number): number {
  const from = rssAround(samples, fromS);
  return round1(((rssAround(samples, toS) - from) / from) * 100);
}

function nearest(samples: readonly SoakSample[], tS: number): SoakSample | undefined {
  let best: SoakSample | undefined;
  for (const s of samples) if (best === undefined || Math.abs(s.t_s - tS) < Math.abs(best.t_s - tS)) best = s;
  return best;
}

const HEADER = '   t s   RSS MiB  anon  file  heap used  heap total  external  ArrayBuffers  malloc heap    records  LevelDB MiB  lag p99 ms  lag max ms';

function formatSample(s: SoakSample): string {
  const cell = (n: number, width: number): string => (Number.isNaN(n) ? '-' : n.toFixed(1)).padStart(width);
  return `${String(s.t_s).padStart(6)} ${cell(s.rss_mib, 9)} ${cell(s.rss_anon_mib, 5)} ${cell(s.rss_file_mib, 5)} ${cell(s.heap_used_mib, 10)} ${cell(s.heap_total_mib, 11)} ${cell(s.external_mib, 9)} ${cell(s.array_buffers_mib, 13)} ${cell(s.malloc_heap_mib, 12)} ${String(s.records ?? '-').padStart(10)} ${cell(s.leveldb_mib, 12)} ${cell(s.loop_lag_p99_ms, 11)} ${cell(s.loop_lag_max_ms, 11)}`;
}

async function main(): Promise<void> {
  const minutes = Number(process.argv[2] ?? process.env.SOAK_MINUTES ?? 20);
  const rateArg = process.argv[3] ?? process.env.SOAK_RATE ?? 'peak';
  const rate = rateArg === 'peak' || rateArg === 'half' ? rateArg : Number(rateArg);
  if (!(minutes > 2) || (typeof rate === 'number' && !(rate > 0))) {
    throw new Error('usage: soak.js [minutes > 2] [peak|half|SESSIONS_PER_S]');
  }
  console.log(HEADER);
  const result = await runSoak({ minutes, rate, progress: (line) => console.log(line) });
  const growthFrom2 = result.growth(120);
  console.log(`${result.load.sessions_per_s.toFixed(0)} sessions/s (${rate === 'peak' ? 'closed loop' : `target ${result.sessions_per_s_target}`}), errors ${result.load.error_count}`);
  console.log(`RSS growth between minute 2 and minute ${minutes}: ${growthFrom2} %`);
  console.log(`${result.load.sessions} sessions brought ${result.distinctKeys} distinct keys; LevelDB ${result.leveldbMean(60, 120)} MiB on average in minute 2, ${result.leveldbMean((minutes - 1) * 60, minutes * 60)} MiB in the last; event-loop lag p99 ${result.loopLagP99Ms} ms over the run`);
  const trims = result.sweeps.map((s) => s.trim_ms ?? 0);
  console.log(`${result.sweeps.length} sweeps removed records; malloc_trim after each took at most ${Math.max(0, ...trims)} ms`);
  const file = writeResult(`soak-${result.mode}.json`, {
    machine: machineInfo(),
    source: sourceInfo(),
    minutes,
    mode: result.mode,
    half_life: result.half_life,
    sessions_per_s_target: result.sessions_per_s_target,
    sessions_per_s: result.load.sessions_per_s,
    errors: result.load.errors,
    rss_growth_from_minute_2_percent: growthFrom2,
    distinct_keys: result.distinctKeys,
    leveldb_mean_mib_minute_2: result.leveldbMean(60, 120),
    leveldb_mean_mib_last_minute: result.leveldbMean((minutes - 1) * 60, minutes * 60),
    loop_lag_p99_ms: result.loopLagP99Ms,
    samples: result.samples,
    leveldb_sizes: result.leveldbSizes,
    sweeps: result.sweeps,
  });
  console.log(`wrote ${file}`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
