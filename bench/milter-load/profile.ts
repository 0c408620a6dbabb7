// CPU profile of Floodgate under milter-load (node --cpu-prof), summarised by self time per function and per file.
//
// Run through bench/run-all.sh, or: node bench/results/tmp/js/bench/milter-load/profile.js [connections] [seconds]
// Writes bench/results/profile.json (top entries) and keeps the raw .cpuprofile under bench/results/tmp/profile/
// (open it in Chrome DevTools or speedscope for a flame graph).
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO, sourceInfo, startMilter, TMP, writeResult } from './bench-support';
import { describe, runLoad } from './load-runner';

const CONNECTIONS = Number(process.argv[2] ?? 16);
const SECONDS = Number(process.argv[3] ?? 10);

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
export interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

export interface ProfileEntry { name: string; where: string; self_ms: number; self_pct: number }

function where(frame: CallFrame): string {
  if (!frame.url) return '';
  const path = frame.url.replace(/^file:\/\//, '');
  // Floodgate's own files as dist/... whichever directory the build under test was compiled into.
  const shown = /\/node_modules\//.test(path) ? path.replace(/^.*\/node_modules\//, 'node_modules/') : path.startsWith('/') ? relative(REPO, path).replace(/^bench\/results\/tmp\/(floodgate|src-ref\/dist)\//, 'dist/') : path;
  return `${shown}:${frame.lineNumber + 1}`;
}

/** Self time per function and per file, largest first. */
export function summariseProfile(profile: CpuProfile, top = 25): { total_ms: number; functions: ProfileEntry[]; files: ProfileEntry[] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const functions = new Map<string, ProfileEntry>();
  const files = new Map<string, ProfileEntry>();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    const name = frame.functionName || '(anonymous)';
    const at = where(frame);
    const fkey = `${name}@${at}`;
    const f = functions.get(fkey) ?? { name, where: at, self_ms: 0, self_pct: 0 };
    f.self_ms += us / 1000;
    functions.set(fkey, f);
    const file = at ? at.replace(/:\d+$/, '') : name;
    const g = files.get(file) ?? { name: file, where: '', self_ms: 0, self_pct: 0 };
    g.self_ms += us / 1000;
    files.set(file, g);
  }
  const finish = (entries: Iterable<ProfileEntry>): ProfileEntry[] =>
    [...entries]
      .sort((a, b) => b.self_ms - a.self_ms)
      .slice(0, top)
      .map((e) => ({ ...e, self_ms: Math.round(e.self_ms), self_pct: Math.round((e.self_ms * 1000 * 1000) / total) / 10 }));
  return { total_ms: Math.round(total / 1000), functions: finish(functions.values()), files: finish(files.values()) };
}

async function main(): Promise<void> {
  const dir = join(TMP, 'profile');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const floodgate = await startMilter('floodgate', { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
  let load;
  try {
    load = await runLoad(floodgate, { connections: CONNECTIONS, processes: 2, durationS: SECONDS, warmupS: 1 });
    console.log(describe(load));
  } finally {
    await floodgate.stop(); // the profile is written as the process exits
  }
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  const summary = summariseProfile(JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile);
  console.log(`\ntop functions by self time (of ${summary.total_ms} ms sampled, idle included):`);
  for (const f of summary.functions) console.log(`${f.self_pct.toFixed(1).padStart(5)} %  ${String(f.self_ms).padStart(6)} ms  ${f.name}  ${f.where}`);
  console.log('\nby file:');
  for (const f of summary.files.slice(0, 15)) console.log(`${f.self_pct.toFixed(1).padStart(5)} %  ${String(f.self_ms).padStart(6)} ms  ${f.name}`);
  writeResult('profile.json', {
    meta: { started: new Date().toISOString(), source: sourceInfo(), connections: CONNECTIONS, seconds: SECONDS, raw: relative(REPO, join(dir, file)) },
    load: { sessions_per_s: load.sessions_per_s, milter_cpu_cores: load.milter_cpu_cores, rcpt: load.stages.rcpt },
    ...summary,
  });
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
