// Runs the C load generator (milter-load) against a running milter and samples who used the CPU meanwhile.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runCommand } from '../../test/support/processes';
import { ensureGenerator, machineBusy, processCpu, TMP, type RunningMilter } from './bench-support';

export interface LoadOptions {
  connections: number;
  durationS: number;
  warmupS: number;
  processes?: number;
  rcpts?: number;
  /** Sessions/s in total (open loop); undefined: as fast as the milter answers. */
  rate?: number;
  /** Full message (DATA, headers, EOH, body, end of message) instead of the envelope only. */
  message?: boolean;
  idle?: boolean;
  /** Moves the client addresses and senders used, so that a run does not meet the previous one's scores. */
  firstSession?: number;
  /** Distinct client addresses and senders (milter-load's defaults: 262,144 each). */
  clientIps?: number;
  senders?: number;
  label?: string;
  /** Send these message files (headers, body in chunks of up to 65535 bytes) instead of the synthetic message; implies `message`. */
  messageFiles?: string[];
  /** Longest wait for one reply, ms (milter-load's default: 10,000). */
  timeoutMs?: number;
}

export interface StageFigures {
  count: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
  mean_us: number;
  verdicts: Record<string, number>;
  /** The text of the first reply-code answer ('y') at this stage, empty when none. */
  first_reply_text?: string;
}

/** What milter-load writes with --json. */
export interface LoadReport {
  label: string;
  target: string;
  connections: number;
  processes: number;
  mode: 'envelope' | 'message' | 'idle';
  rcpts: number;
  duration_s: number;
  warmup_s: number;
  rate_target: number;
  /** With --message-file: how many files, and their mean size as received (headers and body). */
  message_files: number;
  message_bytes_mean: number;
  client_ips: number;
  senders: number;
  sessions: number;
  sessions_per_s: number;
  late_starts: number;
  idle_established: number;
  negotiated: { version: number; actions: number; protocol: number };
  generator_cpu_s: number;
  /** Modification packets (headers, recipients, ...) received at end of message. */
  modifications: number;
  errors: Record<string, number>;
  stages: Record<string, StageFigures>;
}

export interface Measured extends LoadReport {
  milter: string;
  /** Cores used by the milter's processes during the measured window. */
  milter_cpu_cores: number;
  generator_cpu_cores: number;
  /** Cores the whole machine was busy; minus milter and generator, what other processes took. */
  machine_busy_cores: number;
  other_cpu_cores: number;
  error_count: number;
}

let runNumber = 0;

export async function runLoad(milter: RunningMilter, options: LoadOptions): Promise<Measured> {
  const jsonFile = join(TMP, `load-${process.pid}-${runNumber++}.json`);
  const args = [
    '-c', String(options.connections),
    '-P', String(options.processes ?? 1),
    '-d', String(options.durationS),
    '-w', String(options.warmupS),
    '-r', String(options.rcpts ?? 2),
    '-j', jsonFile,
  ];
  if (options.rate !== undefined) args.push('-R', String(Math.round(options.rate)));
  if (options.message) args.push('-m');
  if (options.idle) args.push('--idle');
  if (options.firstSession !== undefined) args.push('--first-session', String(options.firstSession));
  if (options.clientIps !== undefined) args.push('--ips', String(options.clientIps));
  if (options.senders !== undefined) args.push('--senders', String(options.senders));
  if (options.label) args.push('-l', options.label);
  for (const file of options.messageFiles ?? []) args.push('--message-file', file);
  if (options.timeoutMs !== undefined) args.push('--timeout', String(options.timeoutMs));
  args.push(milter.target);

  let before: { t: number; milter: number; busy: number } | undefined;
  const sample = (): { t: number; milter: number; busy: number } => ({
    t: performance.now(),
    milter: milter.pids().reduce((sum, pid) => sum + processCpu(pid), 0),
    busy: machineBusy(),
  });
  // The generator starts its clock ~0.1 s after it is spawned; sample once its warm-up is over.
  const timer = setTimeout(() => (before = sample()), options.warmupS * 1000 + 150);
  const run = await runCommand(ensureGenerator(), args, { timeoutMs: (options.durationS + options.warmupS + 60) * 1000 });
  clearTimeout(timer);
  const after = sample();
  if (run.code !== 0) throw new Error(`milter-load failed (${run.code}): ${run.stdout}${run.stderr}`);
  const report = JSON.parse(readFileSync(jsonFile, 'utf8')) as LoadReport;
  rmSync(jsonFile, { force: true });
  const start = before ?? after;
  const seconds = Math.max((after.t - start.t) / 1000, 1e-3);
  const milterCores = (after.milter - start.milter) / seconds;
  const busyCores = (after.busy - start.busy) / seconds;
  const generatorCores = report.generator_cpu_s / report.duration_s;
  return {
    ...report,
    milter: milter.kind,
    milter_cpu_cores: round(milterCores),
    generator_cpu_cores: round(generatorCores),
    machine_busy_cores: round(busyCores),
    other_cpu_cores: round(Math.max(0, busyCores - milterCores - generatorCores)),
    error_count: Object.values(report.errors).reduce((a, b) => a + b, 0),
  };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/** One line for the console. */
export function describe(m: Measured): string {
  const rcpt = m.stages.rcpt ?? m.stages.eom;
  const verdicts = rcpt ? Object.entries(rcpt.verdicts).map(([k, v]) => `${k}=${v}`).join(' ') : '';
  return `${m.milter.padEnd(10)} C=${String(m.connections).padStart(4)} P=${m.processes} ${m.mode.padEnd(8)} ${m.sessions_per_s.toFixed(0).padStart(6)} sessions/s` +
    `  ${m.stages.rcpt ? 'rcpt' : 'eom'} p50 ${rcpt?.p50_us ?? '-'} p99 ${rcpt?.p99_us ?? '-'} us  [${verdicts}]` +
    `  cpu: milter ${m.milter_cpu_cores} gen ${m.generator_cpu_cores} other ${m.other_cpu_cores}${m.error_count ? `  ERRORS ${JSON.stringify(m.errors)}` : ''}`;
}
