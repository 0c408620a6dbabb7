// The content stage's benchmarks (issue 17, "Measure"): memory with large messages, throughput of
// whole messages against the C reference and rspamd, and envelope-only throughput against the
// build before the content stage. Results go to bench/results/content.json, one section per part.
//
// Run through bench/content/run.sh (it installs rspamd, builds milter-load, ref-body, Floodgate and
// the base build), or by hand once those are built:
//   node bench/results/tmp/js/bench/content/content-bench.js memory|throughput|envelope|all|profile
// Settings (environment), with the defaults of a full run:
//   memory:     CONTENT_MEMORY_ATTACHMENT_MB (40: the attachment's decoded size, MB), CONTENT_MEMORY_SECONDS (30),
//               CONTENT_MEMORY_ATTACHMENT_NAME (backup.tar; backup.exe shows the example refusing it at the end)
//   throughput: CONTENT_RUNS (3), CONTENT_DURATION (10 s per run), CONTENT_SIZES ("20k,1m"),
//               CONTENT_MILTERS ("floodgate,ref-body,rspamd-default,node-floor")
//   envelope:   CONTENT_BASE_CLI (the base build's cli/main.js; run.sh builds CONTENT_BASE_REF, 1c6bdec),
//               CONTENT_ENVELOPE_PAIRS (5), CONTENT_DURATION (10 s), CONTENT_ENVELOPE_LEVELS ("16")
//   profile:    CONTENT_PROFILE_SIZE ("20k"), CONTENT_DURATION (10 s); not part of `all`
// FLOODGATE_CLI: the build under test (run.sh: bench/results/tmp/floodgate/cli/main.js).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FLOODGATE_CLI, machineInfo, median, processMemory, REPO, RESULTS, sourceInfo, startMilter, TMP, writeResult, type MilterKind, type RunningMilter } from '../milter-load/bench-support';
import { describe, runLoad, type Measured } from '../milter-load/load-runner';
import { summariseProfile, type CpuProfile } from '../milter-load/profile';
import { writeCorpus, writeLargeMessage, type CorpusMessage } from './message-corpus';

const env = (name: string, fallback: string): string => process.env[name] ?? fallback;
const CONTENT_RULES = join(REPO, 'rules', 'examples', 'content.yml');
const CORPUS_DIR = join(TMP, 'content');
const MiB = 1024 * 1024;

let session = 0;
/** Each run starts at new session numbers: new client addresses and senders for the milter. */
function nextFirstSession(): number {
  session += 10_000_000;
  return session;
}

function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

// ---- 1. memory ----

interface MemorySample { t_s: number; rss_mib: number }

/**
 * Floodgate with the example content rules; a warm-up of ordinary 20 KiB messages (the parser and the
 * rules compiled, V8's heap grown to its working size); then 16 connections, each sending the large
 * message again and again (closed loop), RSS sampled from /proc every 100 ms. The figure: the highest
 * sample minus the RSS after the warm-up.
 */
async function memory(): Promise<unknown> {
  const attachmentMb = Number(env('CONTENT_MEMORY_ATTACHMENT_MB', '40'));
  const seconds = Number(env('CONTENT_MEMORY_SECONDS', '30'));
  const name = env('CONTENT_MEMORY_ATTACHMENT_NAME', 'backup.tar');
  const file = join(CORPUS_DIR, `large-${attachmentMb}mb-${name}.eml`);
  const large = existsSync(file) ? { file, bytes: statSync(file).size, phrases: 0, attachment: { name, bytes: attachmentMb * 1e6 } } : await writeLargeMessage(file, attachmentMb * 1e6, name);
  const small = await writeCorpus(join(CORPUS_DIR, '20k'), '20k');
  console.log(`\n== memory: ${(large.bytes / MiB).toFixed(1)} MiB message (a ${attachmentMb} MB attachment in base64), 16 at once, ${seconds} s, rules/examples/content.yml`);
  const floodgate = await startMilter('floodgate', { rules: CONTENT_RULES });
  try {
    const atStart = processMemory(floodgate.mainPid);
    const warm = await runLoad(floodgate, { connections: 16, processes: 2, durationS: 5, warmupS: 1, messageFiles: small.map((m) => m.file), firstSession: nextFirstSession() });
    console.log(`warm-up: ${describe(warm)}`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const before = processMemory(floodgate.mainPid);
    const samples: MemorySample[] = [];
    const started = performance.now();
    const sampler = setInterval(() => {
      try {
        samples.push({ t_s: round((performance.now() - started) / 1000, 2), rss_mib: round(processMemory(floodgate.mainPid).rssMiB, 2) });
      } catch {
        // the process is gone: the load run reports it
      }
    }, 100);
    let load: Measured;
    try {
      load = await runLoad(floodgate, { connections: 16, processes: 2, durationS: seconds, warmupS: 0, messageFiles: [large.file], firstSession: nextFirstSession(), timeoutMs: 60_000 });
    } finally {
      clearInterval(sampler);
    }
    console.log(describe(load));
    const after = processMemory(floodgate.mainPid);
    const peak = Math.max(...samples.map((s) => s.rss_mib));
    const rise = peak - before.rssMiB;
    const result = {
      message_bytes: large.bytes,
      attachment_bytes_decoded: large.attachment?.bytes,
      connections: 16,
      seconds,
      rss_at_start_mib: round(atStart.rssMiB),
      rss_before_mib: round(before.rssMiB),
      rss_peak_sampled_mib: round(peak),
      rss_after_mib: round(after.rssMiB),
      vm_hwm_mib: round(after.peakMiB),
      rise_mib: round(rise),
      target_mib: 32,
      pass: rise < 32,
      messages_completed: load.stages.eom?.count ?? 0,
      body_chunks_answered: load.stages.body?.count ?? 0,
      attachment_name: name,
      eom_verdicts: load.stages.eom?.verdicts ?? {},
      eom_first_reply_text: load.stages.eom?.first_reply_text ?? '',
      errors: load.errors,
      floodgate_cpu_cores: load.milter_cpu_cores,
      other_cpu_cores: load.other_cpu_cores,
      samples,
    };
    console.log(`RSS: ${result.rss_before_mib} MiB after the warm-up, peak ${result.rss_peak_sampled_mib} MiB: +${result.rise_mib} MiB (target < 32 MiB: ${result.pass ? 'met' : 'NOT met'}); ` +
      `${result.messages_completed} messages of ${(large.bytes / MiB).toFixed(1)} MiB completed, ${result.body_chunks_answered} body chunks answered; end of message: ${JSON.stringify(result.eom_verdicts)} ${result.eom_first_reply_text}`);
    return result;
  } finally {
    await floodgate.stop();
  }
}

// ---- 2. throughput ----

interface ThroughputRow {
  size: string;
  milter: string;
  runs: number;
  message_bytes_mean: number;
  messages_per_s: number;
  mb_per_s: number;
  /** Messages per second of the milter's own CPU: less moved by other work on a shared machine. */
  messages_per_cpu_s: number;
  messages_per_s_runs: number[];
  eom_p50_us: number;
  eom_p99_us: number;
  milter_cpu_cores: number;
  other_cpu_cores: number;
  eom_verdicts: Record<string, number>;
  eom_first_reply_text: string;
  modifications: number;
  errors: number;
}

/**
 * Whole messages at 16 connections, closed loop, every milter in turn (A B C D A B C D ...) so that a
 * disturbance on a shared machine spreads over all of them. Floodgate runs the example content rules;
 * ref-body (libmilter) and node-floor answer continue to everything; rspamd runs Debian's default modules.
 */
async function throughput(): Promise<unknown> {
  const runs = Number(env('CONTENT_RUNS', '3'));
  const duration = Number(env('CONTENT_DURATION', '10'));
  const sizes = env('CONTENT_SIZES', '20k,1m').split(',') as Array<'20k' | '1m'>;
  const kinds = env('CONTENT_MILTERS', 'floodgate,ref-body,rspamd-default,node-floor').split(',') as MilterKind[];
  const corpora = new Map<string, CorpusMessage[]>();
  for (const size of sizes) corpora.set(size, await writeCorpus(join(CORPUS_DIR, size), size));
  for (const [size, messages] of corpora) console.log(`corpus ${size}: ${messages.map((m) => `${m.bytes} B (${m.phrases} phrases)`).join(', ')}`);
  // rspamd starts once (its start takes ~10 s and more); the others afresh for every run.
  const rspamd = kinds.includes('rspamd-default') ? await startMilter('rspamd-default') : undefined;
  const measured: Array<Measured & { size: string }> = [];
  try {
    for (const size of sizes) {
      console.log(`\n== throughput, ${size} messages, 16 connections, ${runs} x ${duration} s: ${kinds.join(', ')}`);
      for (let run = 0; run < runs; run++) {
        for (const kind of kinds) {
          const milter: RunningMilter = kind === 'rspamd-default' ? rspamd! : await startMilter(kind, kind === 'floodgate' ? { rules: CONTENT_RULES } : {});
          try {
            const m = await runLoad(milter, { connections: 16, processes: 2, durationS: duration, warmupS: 2, messageFiles: corpora.get(size)!.map((c) => c.file), firstSession: nextFirstSession(), timeoutMs: 30_000 });
            console.log(`${size.padEnd(4)} ${describe(m)}  ${round((m.sessions_per_s * m.message_bytes_mean) / 1e6)} MB/s`);
            measured.push({ ...m, size });
          } finally {
            if (kind !== 'rspamd-default') await milter.stop();
          }
        }
      }
    }
  } finally {
    await rspamd?.stop();
  }
  const rows: ThroughputRow[] = [];
  for (const size of sizes) {
    for (const kind of kinds) {
      const mine = measured.filter((m) => m.size === size && m.milter === kind);
      if (mine.length === 0) continue;
      const perS = median(mine.map((m) => m.sessions_per_s));
      const verdicts: Record<string, number> = {};
      for (const m of mine) for (const [k, v] of Object.entries(m.stages.eom?.verdicts ?? {})) verdicts[k] = (verdicts[k] ?? 0) + v;
      rows.push({
        size,
        milter: kind,
        runs: mine.length,
        message_bytes_mean: mine[0]!.message_bytes_mean,
        messages_per_s: round(perS),
        mb_per_s: round((perS * mine[0]!.message_bytes_mean) / 1e6),
        messages_per_cpu_s: round(median(mine.map((m) => m.sessions_per_s / m.milter_cpu_cores))),
        messages_per_s_runs: mine.map((m) => round(m.sessions_per_s)),
        eom_p50_us: median(mine.map((m) => m.stages.eom?.p50_us ?? NaN)),
        eom_p99_us: median(mine.map((m) => m.stages.eom?.p99_us ?? NaN)),
        milter_cpu_cores: round(median(mine.map((m) => m.milter_cpu_cores)), 2),
        other_cpu_cores: round(median(mine.map((m) => m.other_cpu_cores)), 2),
        eom_verdicts: verdicts,
        eom_first_reply_text: mine.map((m) => m.stages.eom?.first_reply_text ?? '').find((t) => t !== '') ?? '',
        modifications: mine.reduce((sum, m) => sum + m.modifications, 0),
        errors: mine.reduce((sum, m) => sum + m.error_count, 0),
      });
    }
  }
  const ratios = sizes.map((size) => {
    const fg = rows.find((r) => r.size === size && r.milter === 'floodgate');
    const rs = rows.find((r) => r.size === size && r.milter === 'rspamd-default');
    return {
      size,
      floodgate_over_rspamd: fg && rs ? round(fg.messages_per_s / rs.messages_per_s, 2) : null,
      per_cpu_second: fg && rs ? round(fg.messages_per_cpu_s / rs.messages_per_cpu_s, 2) : null,
      goal: 1.0,
    };
  });
  console.log(`\n${'size'.padEnd(5)} ${'milter'.padEnd(15)} ${'msgs/s'.padStart(8)} ${'MB/s'.padStart(7)} ${'msgs/cpu-s'.padStart(10)} ${'eom p50'.padStart(9)} ${'eom p99'.padStart(9)} ${'cores'.padStart(6)}  verdicts`);
  for (const r of rows) {
    console.log(`${r.size.padEnd(5)} ${r.milter.padEnd(15)} ${r.messages_per_s.toFixed(1).padStart(8)} ${r.mb_per_s.toFixed(1).padStart(7)} ${r.messages_per_cpu_s.toFixed(0).padStart(10)} ${String(r.eom_p50_us).padStart(9)} ${String(r.eom_p99_us).padStart(9)} ${r.milter_cpu_cores.toFixed(2).padStart(6)}  ${JSON.stringify(r.eom_verdicts)} mods=${r.modifications}${r.errors ? ` ERRORS=${r.errors}` : ''}${r.eom_first_reply_text ? ` (y: ${r.eom_first_reply_text})` : ''}`);
  }
  for (const r of ratios) console.log(`${r.size}: Floodgate / rspamd = ${r.floodgate_over_rspamd} in messages/s, ${r.per_cpu_second} per CPU second (goal >= 1.0)`);
  return {
    settings: { runs, duration_s: duration, connections: 16, generator_processes: 2, milters: kinds },
    corpora: Object.fromEntries([...corpora].map(([size, messages]) => [size, messages.map((m) => ({ file: m.file.slice(REPO.length + 1), bytes: m.bytes, phrases: m.phrases, attachment: m.attachment }))])),
    rows,
    ratios,
  };
}

// ---- 3. envelope ----

/** The shipped rules (no content rule): the current build against the one before the content stage, alternating. */
async function envelope(): Promise<unknown> {
  const baseCli = process.env.CONTENT_BASE_CLI;
  if (!baseCli || !existsSync(baseCli)) throw new Error('CONTENT_BASE_CLI: the base build\'s cli/main.js (bench/content/run.sh builds it)');
  const pairs = Number(env('CONTENT_ENVELOPE_PAIRS', '5'));
  const duration = Number(env('CONTENT_DURATION', '10'));
  const levels = env('CONTENT_ENVELOPE_LEVELS', '16').split(',').map(Number);
  const builds = [{ name: 'base', cli: baseCli }, { name: 'current', cli: FLOODGATE_CLI }];
  const out = [];
  for (const connections of levels) {
    console.log(`\n== envelope sessions, shipped rules, ${connections} connections, ${pairs} pairs x ${duration} s: base (${env('CONTENT_BASE_REF', 'base')}) and current, alternating`);
    const runs: Measured[][] = [[], []];
    for (let pair = 0; pair < pairs; pair++) {
      for (const i of pair % 2 === 0 ? [0, 1] : [1, 0]) {
        const milter = await startMilter('floodgate', { cli: builds[i]!.cli });
        try {
          const m = await runLoad(milter, { connections, processes: Math.max(2, Math.ceil(connections / 16)), durationS: duration, warmupS: 1, firstSession: nextFirstSession() });
          console.log(`${builds[i]!.name.padEnd(8)} ${describe(m)}`);
          runs[i]!.push(m);
        } finally {
          await milter.stop();
        }
      }
    }
    const [base, current] = runs.map((r) => median(r.map((m) => m.sessions_per_s))) as [number, number];
    // Sessions per second of Floodgate's own CPU: what the build costs, less moved by other work on the machine.
    const [baseCpu, currentCpu] = runs.map((r) => median(r.map((m) => m.sessions_per_s / m.milter_cpu_cores))) as [number, number];
    const negotiated = runs[1]![0]!.negotiated;
    out.push({
      connections,
      base_sessions_per_s: round(base),
      current_sessions_per_s: round(current),
      ratio: round(current / base, 3),
      base_sessions_per_cpu_s: round(baseCpu),
      current_sessions_per_cpu_s: round(currentCpu),
      ratio_per_cpu_second: round(currentCpu / baseCpu, 3),
      goal: 0.97,
      base_runs: runs[0]!.map((m) => round(m.sessions_per_s)),
      current_runs: runs[1]!.map((m) => round(m.sessions_per_s)),
      current_negotiated_protocol: `0x${negotiated.protocol.toString(16)}`,
      errors: runs.flat().reduce((sum, m) => sum + m.error_count, 0),
    });
    const last = out[out.length - 1]!;
    console.log(`C=${connections}: base ${last.base_sessions_per_s}/s, current ${last.current_sessions_per_s}/s: ratio ${last.ratio}; per CPU second ${last.base_sessions_per_cpu_s} and ${last.current_sessions_per_cpu_s}: ratio ${last.ratio_per_cpu_second} (goal >= 0.97)`);
  }
  return { base_ref: env('CONTENT_BASE_REF', 'unknown'), base_cli: baseCli, pairs, duration_s: duration, levels: out };
}

// ---- where Floodgate's time goes with content rules ----

/** Floodgate with the example content rules under `node --cpu-prof`, whole messages at 16 connections; self time per function and file. */
async function profile(): Promise<unknown> {
  const size = env('CONTENT_PROFILE_SIZE', '20k') as '20k' | '1m';
  const duration = Number(env('CONTENT_DURATION', '10'));
  const corpus = await writeCorpus(join(CORPUS_DIR, size), size);
  const dir = join(TMP, 'content-profile');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  console.log(`\n== CPU profile: Floodgate with rules/examples/content.yml, ${size} messages, 16 connections, ${duration} s`);
  const floodgate = await startMilter('floodgate', { rules: CONTENT_RULES, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
  let load: Measured;
  try {
    load = await runLoad(floodgate, { connections: 16, processes: 2, durationS: duration, warmupS: 1, messageFiles: corpus.map((m) => m.file), firstSession: nextFirstSession() });
    console.log(describe(load));
  } finally {
    await floodgate.stop(); // the profile is written as the process exits
  }
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  const summary = summariseProfile(JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile, 20);
  console.log(`top functions by self time (of ${summary.total_ms} ms sampled, idle included):`);
  for (const f of summary.functions) console.log(`${f.self_pct.toFixed(1).padStart(5)} %  ${String(f.self_ms).padStart(6)} ms  ${f.name}  ${f.where}`);
  console.log('by file:');
  for (const f of summary.files.slice(0, 15)) console.log(`${f.self_pct.toFixed(1).padStart(5)} %  ${String(f.self_ms).padStart(6)} ms  ${f.name}`);
  return { size, duration_s: duration, raw: relative(REPO, join(dir, file)), messages_per_s: load.sessions_per_s, milter_cpu_cores: load.milter_cpu_cores, ...summary };
}

async function main(): Promise<void> {
  const part = process.argv[2] ?? 'all';
  const parts = part === 'all' ? ['memory', 'throughput', 'envelope'] : [part];
  const file = join(process.env.BENCH_RESULTS ?? RESULTS, 'content.json');
  // Each part replaces its own section only, so the parts can be run one at a time.
  const results = (existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {}) as Record<string, unknown>;
  for (const name of parts) {
    const started = performance.now();
    const startedAt = new Date().toISOString();
    const run = ({ memory, throughput, envelope, profile } as Record<string, () => Promise<unknown>>)[name];
    if (!run) throw new Error(`usage: content-bench.js memory|throughput|envelope|all|profile (not ${name})`);
    const data = await run();
    results[name] = { meta: { started: startedAt, seconds: Math.round((performance.now() - started) / 1000), source: sourceInfo(), machine: machineInfo(), load_average: readFileSync('/proc/loadavg', 'utf8').trim() }, ...(data as object) };
    console.log(`wrote ${writeResult('content.json', results)}`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
