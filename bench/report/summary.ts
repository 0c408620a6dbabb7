// Turns bench/results/*.json into bench/results/summary.md and the PNG charts (gnuplot, bench/report/charts.gp).
//
// Run by bench/run-all.sh after the benchmarks; by hand: node bench/results/tmp/js/bench/report/summary.js
// A missing results file leaves its section out; targets are judged on the figures of the same run.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../test/support/processes';
import { REPO, RESULTS, TMP } from '../milter-load/bench-support';
import type { Measured, StageFigures } from '../milter-load/load-runner';
import type { ProfileEntry } from '../milter-load/profile';

interface Point { milter: string; connections: number; runs: number; sessions_per_s: number; rcpt_p50_us: number; rcpt_p99_us: number; rcpt_p999_us: number; milter_cpu_cores: number; other_cpu_cores: number; errors: number; non_continue_rcpt: number }
interface MilterResults {
  meta: { started: string; seconds: number; source: { commit: string; dirty: boolean }; machine: { cores: number; cpu: string; kernel: string; node: string }; settings: Record<string, unknown> };
  generatorCheck: Measured[];
  envelope: { runs: Measured[]; points: Point[] };
  halfPeak: { peak: number; rate: number; runs: Measured[]; points: Array<Point & { rate: number }> };
  message: { runs: Measured[]; points: Point[]; eom: Array<{ milter: string; eom_p50_us: number; eom_p99_us: number }> };
}
interface PostfixResults {
  meta: { started: string; seconds: number; settings: { RUNS: number; MESSAGES: number; SESSIONS: number } };
  medians: Array<{ case: string; runs: number; failed_runs: number; messages_per_s: number; all_messages_per_s: number[]; machine_cpu_ms_per_message: number; postfix_cpu_ms_per_message: number; milter_cpu_ms_per_message: number; milter_cpu_cores: number }>;
  ratios: Array<{ transport: string; floodgate_vs_ref_count: number; node_floor_vs_ref_count?: number; floodgate_vs_node_floor?: number; zero_cost_ceiling_vs_ref_count?: number; floodgate_vs_rspamd: number; floodgate_vs_no_milter: number; ref_count_vs_no_milter: number; rspamd_vs_no_milter: number }>;
}
interface MemoryResults {
  keys: number; records: number; leveldb_mib: number; rss_at_start_mib: number; rss_after_load_mib: number; idle_established: number; open_fds_with_idle: number; rss_with_idle_mib: number; peak_rss_mib: number; target_mib: number;
  expiry?: { records_live: number; leveldb_mib_live: number; records_with_flood: number; leveldb_mib_with_flood: number; swept: number; sweep_and_compact_seconds: number; records_after_sweep: number; leveldb_mib_after_sweep: number };
}
interface ProfileResults { meta: { connections: number; seconds: number; raw: string }; load: { sessions_per_s: number; milter_cpu_cores: number }; total_ms: number; functions: ProfileEntry[]; files: ProfileEntry[] }

function load<T>(name: string): T | undefined {
  const file = join(RESULTS, name);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : undefined;
}

const verdict = (ok: boolean): string => (ok ? '**met**' : '**missed**');
const x = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(2)}×` : 'n/a');
const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const ms = (us: number): string => (Number.isFinite(us) ? (us / 1000).toFixed(us < 10_000 ? 2 : 1) : 'n/a');

function table(header: string[], rows: Array<Array<string | number>>): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function point(points: Point[], milter: string, connections: number): Point | undefined {
  return points.find((p) => p.milter === milter && p.connections === connections);
}

function milterSection(r: MilterResults, out: string[]): void {
  const pts = r.envelope.points;
  const levels = [...new Set(pts.map((p) => p.connections))].sort((a, b) => a - b);
  out.push('## Milter protocol, envelope sessions (no MTA)', '');
  out.push('milter-load plays Postfix: per session a new connection, OPTNEG, CONNECT, HELO, MAIL, 2 × RCPT, ABORT, QUIT, with Postfix\'s macros; ' +
    `${r.envelope.runs[0]?.client_ips?.toLocaleString('en-US') ?? ''} client addresses and as many senders. Each figure is the median of the runs shown; every run starts its milter afresh (Floodgate with an empty LevelDB on disk).`, '');
  out.push(table(
    ['connections', 'ref-accept (C)', 'ref-count (C)', 'node-floor.js', 'Floodgate', 'Floodgate / node floor', 'Floodgate / ref-count', 'Floodgate / ref-accept', 'Floodgate, memory store (diagnostic)', 'runs'],
    levels.map((c) => {
      const a = point(pts, 'ref-accept', c);
      const k = point(pts, 'ref-count', c);
      const n = point(pts, 'node-floor', c);
      const f = point(pts, 'floodgate', c);
      const fm = point(pts, 'floodgate-memory', c);
      const rate = f?.sessions_per_s ?? NaN;
      return [c, int(a?.sessions_per_s ?? NaN), int(k?.sessions_per_s ?? NaN), n ? int(n.sessions_per_s) : '', int(rate), n ? x(rate / n.sessions_per_s) : '', x(rate / (k?.sessions_per_s ?? NaN)), x(rate / (a?.sessions_per_s ?? NaN)), fm ? int(fm.sessions_per_s) : '', f?.runs ?? 0];
    }),
  ), '');
  out.push('node-floor.js answers OPTNEG and then "continue" to everything, with no state, on one Node thread: what Node\'s socket layer alone costs per session. ' +
    'The memory-store column is Floodgate with `store.backend: memory` (scores lost at exit): not a shipped configuration, it shows how much of the gap the LevelDB work on every RCPT accounts for.', '');
  for (const c of [16, 128]) {
    const ratio = (point(pts, 'floodgate', c)?.sessions_per_s ?? NaN) / (point(pts, 'node-floor', c)?.sessions_per_s ?? NaN);
    out.push(`- Target (issue 20): Floodgate ≥ 0.6× node-floor.js at ${c} connections: ${x(ratio)}, ${verdict(ratio >= 0.6)}.`);
  }
  out.push('', 'RCPT answer latency, closed loop (ms):', '');
  out.push(table(
    ['milter', 'connections', 'p50', 'p99', 'p99.9', 'milter CPU (cores)', 'other CPU: kernel network and other processes (cores)', 'errors', 'RCPT not continued'],
    pts.filter((p) => p.connections === 16 || p.connections === 128).map((p) => [p.milter, p.connections, ms(p.rcpt_p50_us), ms(p.rcpt_p99_us), ms(p.rcpt_p999_us), p.milter_cpu_cores, p.other_cpu_cores, p.errors, p.non_continue_rcpt]),
  ), '');
  const hp = r.halfPeak;
  const f = hp.points.find((p) => p.milter === 'floodgate');
  const k = hp.points.find((p) => p.milter === 'ref-count');
  out.push(`### RCPT latency at half of Floodgate's peak`, '');
  out.push(`Floodgate's peak: ${int(hp.peak)} sessions/s; half: ${int(hp.rate)} sessions/s, open loop (sessions started on a fixed schedule over up to 128 connections), ${f?.runs ?? 0} runs.`, '');
  const fm = hp.points.find((p) => p.milter === 'floodgate-memory');
  out.push(table(['milter', 'sessions/s', 'RCPT p50 (ms)', 'RCPT p99 (ms)', 'RCPT p99.9 (ms)', 'milter CPU (cores)'], [f, k, fm].filter((p): p is Point & { rate: number } => p !== undefined).map((p) => [p.milter, int(p.sessions_per_s), ms(p.rcpt_p50_us), ms(p.rcpt_p99_us), ms(p.rcpt_p999_us), p.milter_cpu_cores])), '');
  if (f) {
    const each = hp.runs.filter((m) => m.milter === 'floodgate').map((m) => ms(m.stages.rcpt?.p99_us ?? NaN));
    out.push(`- Target: RCPT p99 ≤ 2 ms at half of Floodgate's peak: ${ms(f.rcpt_p99_us)} ms (median; the runs: ${each.join(', ')} ms), ${verdict(f.rcpt_p99_us <= 2000)}.`, '');
  }
  out.push('### Full messages (DATA, 8 headers, EOH, 2 KiB body, end of message), 16 connections', '');
  out.push(table(['milter', 'sessions/s', 'RCPT p99 (ms)', 'EOM p50 (ms)', 'EOM p99 (ms)', 'milter CPU (cores)', 'runs'], r.message.points.map((p) => {
    const e = r.message.eom.find((m) => m.milter === p.milter);
    return [p.milter, int(p.sessions_per_s), ms(p.rcpt_p99_us), ms(e?.eom_p50_us ?? NaN), ms(e?.eom_p99_us ?? NaN), p.milter_cpu_cores, p.runs];
  })), '');
  out.push('rspamd answers only at end of message (it negotiates no reply for every other stage), so it appears here only.', '');
  out.push('### Is the generator the bottleneck?', '');
  out.push(table(['connections', 'generator processes', 'ref-count sessions/s', 'generator CPU (cores)', 'other CPU (cores)'], r.generatorCheck.map((m) => [m.connections, m.processes, int(m.sessions_per_s), m.generator_cpu_cores, m.other_cpu_cores])), '');
  out.push('Linux shares CPU per thread and libmilter runs a thread per connection, so one generator process is starved at 128 connections; ' +
    'the benchmark uses the process count past which the C reference no longer speeds up (see settings in milter.json).', '');
}

function postfixSection(r: PostfixResults, out: string[]): void {
  out.push('## Through Postfix', '');
  out.push(`smtp-source (${r.meta.settings.SESSIONS} sessions, ${r.meta.settings.MESSAGES} messages of 1 KiB per run, one recipient, every session from its own 127.0.0.0/8 address and sender) → Postfix 3.7 (queue on tmpfs) → smtp-sink. Cases alternate run by run; medians of ${r.meta.settings.RUNS} runs.`, '');
  out.push(table(
    ['case', 'messages/s (median)', 'all runs', 'Postfix CPU per message (ms)', 'milter CPU per message (ms)', 'machine CPU per message (ms)', 'failed runs'],
    r.medians.map((m) => [m.case, int(m.messages_per_s), m.all_messages_per_s.map((v) => Math.round(v)).join(', '), m.postfix_cpu_ms_per_message, m.milter_cpu_ms_per_message, m.machine_cpu_ms_per_message, m.failed_runs]),
  ), '');
  out.push('Postfix CPU: this case\'s daemons (smtpd, cleanup, qmgr, smtp to the sink...) from the start of the run until its queue is empty, daemons that exited counted through the master\'s reaped-children time (approximate: a daemon\'s whole life is counted in the run it exits in); milter CPU: the milter\'s processes (rspamd with Redis) during the run; machine: the whole machine busy while smtp-source ran (delivery after it is not included; other processes are).', '');
  for (const q of r.ratios) {
    const ceiling = q.zero_cost_ceiling_vs_ref_count === undefined ? '' : `; a milter costing nothing could reach ${x(q.zero_cost_ceiling_vs_ref_count)}`;
    const floor = q.node_floor_vs_ref_count === undefined ? '' : `; node-floor.js, a Node milter doing nothing, reached ${x(q.node_floor_vs_ref_count)} (Floodgate / node-floor ${x(q.floodgate_vs_node_floor ?? NaN)})`;
    out.push(`- ${q.transport.toUpperCase()}: Floodgate / ref-count ${x(q.floodgate_vs_ref_count)} (target ≥ 1.05×: ${verdict(q.floodgate_vs_ref_count >= 1.05)}${ceiling}${floor}); ` +
      `Floodgate / rspamd ${x(q.floodgate_vs_rspamd)} (target ≥ 1.25×: ${verdict(q.floodgate_vs_rspamd >= 1.25)}); ` +
      `Floodgate / no milter ${x(q.floodgate_vs_no_milter)}; ref-count / no milter ${x(q.ref_count_vs_no_milter)}; rspamd / no milter ${x(q.rspamd_vs_no_milter)}.`);
  }
  out.push('');
}

function memorySection(r: MemoryResults, out: string[]): void {
  out.push('## Memory', '');
  out.push(table(['live keys', 'LevelDB on disk', 'RSS at start', 'RSS after 20 s of load', 'RSS with 1,000 idle connections', 'peak RSS'], [[int(r.records), `${r.leveldb_mib} MiB`, `${r.rss_at_start_mib} MiB`, `${r.rss_after_load_mib} MiB`, `${r.rss_with_idle_mib} MiB (${r.idle_established} held, ${r.open_fds_with_idle} fds)`, `${r.peak_rss_mib} MiB`]]), '');
  out.push(`- Target: RSS ≤ 150 MB (${r.target_mib} MiB) with 1 million live keys and 1,000 idle connections: ${r.rss_with_idle_mib} MiB, ${verdict(r.rss_with_idle_mib <= r.target_mib)} (peak during the load before: ${r.peak_rss_mib} MiB).`, '');
  const e = r.expiry;
  if (e) {
    out.push(`- LevelDB after expiry: ${int(e.records_live)} live keys took ${e.leveldb_mib_live} MiB; ${int(e.records_with_flood - e.records_live)} more keys with a 1 s half-life (a flood) made it ${int(e.records_with_flood)} records, ${e.leveldb_mib_with_flood} MiB; one sweep after they expired deleted ${int(e.swept)} and compacted in ${e.sweep_and_compact_seconds} s: ${int(e.records_after_sweep)} records, ${e.leveldb_mib_after_sweep} MiB. Target (size bounded by the live keys after expiry): ${verdict(e.records_after_sweep === e.records_live && e.leveldb_mib_after_sweep <= e.leveldb_mib_live * 1.25)}.`, '');
  }
}

function profileSection(r: ProfileResults, out: string[]): void {
  out.push('## Where Floodgate spends its time', '');
  out.push(`\`node --cpu-prof\` of Floodgate under milter-load, ${r.meta.connections} connections for ${r.meta.seconds} s (${int(r.load.sessions_per_s)} sessions/s, ${r.load.milter_cpu_cores} cores). Raw profile: \`${r.meta.raw}\` (not committed; open it in Chrome DevTools or speedscope for a flame graph). Self time of the main thread:`, '');
  out.push(table(['self %', 'self ms', 'function', 'where'], r.functions.slice(0, 20).map((f) => [f.self_pct.toFixed(1), f.self_ms, `\`${f.name}\``, f.where ? `\`${f.where}\`` : '(native)'])), '');
}

async function charts(m: MilterResults | undefined, p: PostfixResults | undefined): Promise<string[]> {
  const dir = join(TMP, 'plot');
  mkdirSync(dir, { recursive: true });
  const made: string[] = [];
  if (m) {
    const pts = m.envelope.points;
    const levels = [...new Set(pts.map((q) => q.connections))].sort((a, b) => a - b);
    writeFileSync(join(dir, 'throughput.dat'), levels.map((c) => [c, ...['ref-accept', 'ref-count', 'floodgate'].map((k) => point(pts, k, c)?.sessions_per_s ?? NaN)].join(' ')).join('\n') + '\n');
    const lat = (label: string, stage: StageFigures | undefined): string => `"${label}" ${[stage?.p50_us, stage?.p90_us, stage?.p99_us, stage?.p999_us].map((v) => ((v ?? NaN) / 1000).toFixed(3)).join(' ')}`;
    const medianStage = (runs: Measured[], milter: string): StageFigures | undefined => {
      const mine = runs.filter((r) => r.milter === milter && r.stages.rcpt);
      if (mine.length === 0) return undefined;
      const med = (f: (s: StageFigures) => number): number => { const v = mine.map((r) => f(r.stages.rcpt!)).sort((a, b) => a - b); return v[v.length >> 1]!; };
      return { count: 0, p50_us: med((s) => s.p50_us), p90_us: med((s) => s.p90_us), p99_us: med((s) => s.p99_us), p999_us: med((s) => s.p999_us), max_us: 0, mean_us: 0, verdicts: {} };
    };
    const closed = m.envelope.runs.filter((r) => r.connections === 16);
    writeFileSync(join(dir, 'latency.dat'), [
      ...['ref-accept', 'ref-count', 'floodgate'].map((k) => lat(`${k}, 16 conn.`, medianStage(closed, k))),
      ...['ref-count', 'floodgate'].map((k) => lat(`${k}, ${Math.round(m.halfPeak.rate)}/s`, medianStage(m.halfPeak.runs, k))),
    ].join('\n') + '\n');
  }
  if (p) writeFileSync(join(dir, 'postfix.dat'), p.medians.map((q) => `"${q.case}" ${q.messages_per_s} ${Math.min(...q.all_messages_per_s)} ${Math.max(...q.all_messages_per_s)}`).join('\n') + '\n');
  const gp = await runCommand('gnuplot', ['-e', `datadir='${dir}'; outdir='${RESULTS}'; have_milter=${m ? 1 : 0}; have_postfix=${p ? 1 : 0}`, join(REPO, 'bench', 'report', 'charts.gp')]).catch((e: Error) => ({ code: 1, stdout: '', stderr: e.message }));
  if (gp.code !== 0) {
    console.error(`gnuplot failed, no charts: ${gp.stderr}`);
    return [];
  }
  if (m) made.push('throughput.png', 'latency.png');
  if (p) made.push('postfix.png');
  return made;
}

async function main(): Promise<void> {
  const m = load<MilterResults>('milter.json');
  const p = load<PostfixResults>('postfix.json');
  const mem = load<MemoryResults>('memory.json');
  const prof = load<ProfileResults>('profile.json');
  const out: string[] = ['# Floodgate benchmark results', ''];
  const meta = m?.meta;
  if (meta) {
    out.push(`Measured ${meta.started.slice(0, 16).replace('T', ' ')} UTC on ${meta.machine.cores} cores (${meta.machine.cpu}), kernel ${meta.machine.kernel}, Node ${meta.machine.node}; ` +
      `Floodgate at commit ${meta.source.commit.slice(0, 10)}${meta.source.dirty ? ' with uncommitted changes in src/' : ''}. Produced by \`bench/run-all.sh\`; what each figure means: bench/README.md.`, '');
  }
  const pngs = await charts(m, p);
  for (const png of pngs) out.push(`![${png.replace('.png', '')}](${png})`);
  if (pngs.length) out.push('');
  if (m) milterSection(m, out);
  if (p) postfixSection(p, out);
  if (mem) memorySection(mem, out);
  if (prof) profileSection(prof, out);
  writeFileSync(join(RESULTS, 'summary.md'), out.join('\n'));
  console.log(out.join('\n'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
