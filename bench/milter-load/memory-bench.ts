// Memory benchmark: Floodgate's resident memory with 1 million live keys in LevelDB and 1,000 idle MTA connections.
//
// Run through bench/run-all.sh, or: node bench/results/tmp/js/bench/milter-load/memory-bench.js [keys]
// The keys (default 1,000,000) are written through the LevelStore of the Floodgate build under test,
// shaped as the shipped rules make them (ip, network, sender, ip+sender; their half-lives), scored
// now, so all are live for the next hour. Floodgate then starts on that state directory, serves 20 s
// of sessions, and holds 1,000 idle connections (OPTNEG, CONNECT, HELO, then silence)
// opened by milter-load --idle. Writes bench/results/memory.json.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { spawnTracked } from '../../test/support/processes';
import { ensureGenerator, FLOODGATE_CLI, machineInfo, processMemory, sourceInfo, startMilter, TMP, writeResult } from './bench-support';
import { runLoad } from './load-runner';

const KEYS = Number(process.argv[2] ?? process.env.MEMORY_KEYS ?? 1_000_000);
const IDLE_CONNECTIONS = 1000;
/** Sessions/s of the load before the idle connections: below the peak of every build measured (~2,500 with 1 M keys). */
const LOAD_RATE = 2000;
const MINUTE = 60_000;

interface StoreModule {
  LevelStore: {
    open(dir: string): Promise<{
      addMany(updates: Array<{ key: string; points: number; halfLifeMs: number }>, now: number): Promise<number[]>;
      size(): Promise<number>;
      sweep(now: number): Promise<number>;
      close(): Promise<void>;
    }>;
  };
}

/**
 * Key number i, in the shapes and proportions one RCPT under the shipped rules produces. The live keys
 * share the load's client range (100.64.0.0/10) and senders; a flood's (`flood`) use 10.64.0.0/10 and
 * other sender domains, so that they never overwrite a key the load made live.
 */
function keyAt(i: number, flood = false): { key: string; halfLifeMs: number } {
  const n = i >> 2;
  const ip = `${flood ? 10 : 100}.${64 + ((n >> 16) & 63)}.${(n >> 8) & 255}.${n & 255}`;
  const sender = `user${n}@${flood ? 'bot' : 'customer'}${n % 50021}.example`;
  switch (i & 3) {
    case 0: return { key: `ip:${ip}`, halfLifeMs: 10 * MINUTE };
    case 1: return { key: `network:${10 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}.0/24`, halfLifeMs: 30 * MINUTE };
    case 2: return { key: `sender:${sender}`, halfLifeMs: 60 * MINUTE };
    default: return { key: `ip+sender:${ip}|${sender}`, halfLifeMs: 60 * MINUTE };
  }
}

/** The store of the build under test, so the on-disk layout is the one that Floodgate reads. */
function storeModule(): StoreModule {
  return require(join(dirname(dirname(FLOODGATE_CLI)), 'store', 'level-store.js')) as StoreModule;
}

const BATCH = 2000;

/** A flood's keys fade with a 1 s half-life: expired within ~10 s. */
const FLOOD_HALF_LIFE_MS = 1000;

/** Writes KEYS keys from key number `first` on, scored at `now`: live ones, or a flood's (see keyAt). */
async function writeKeys(store: Awaited<ReturnType<StoreModule['LevelStore']['open']>>, first: number, now: number, flood = false): Promise<void> {
  for (let i = first; i < first + KEYS; i += BATCH) {
    const updates = [];
    for (let j = i; j < Math.min(i + BATCH, first + KEYS); j++) {
      const key = keyAt(j, flood);
      updates.push({ key: key.key, halfLifeMs: flood ? FLOOD_HALF_LIFE_MS : key.halfLifeMs, points: 1 + (j % 7) });
    }
    await store.addMany(updates, now);
  }
}

async function prefill(stateDir: string): Promise<{ records: number; seconds: number }> {
  const store = await storeModule().LevelStore.open(join(stateDir, 'scores'));
  const started = performance.now();
  await writeKeys(store, 0, Date.now());
  const records = await store.size();
  await store.close();
  return { records, seconds: Math.round((performance.now() - started) / 100) / 10 };
}

/**
 * LevelDB's size is bounded by the live keys once the rest has expired: a flood's worth of new keys
 * (another KEYS) is written on top of the live ones, then one
 * sweep at a time when those have expired and the live ones (half-lives of 10 minutes and more) have
 * not. The sweep deletes them and compacts the files (LevelDB keeps deletions as tombstones until then).
 */
async function expiryCheck(stateDir: string): Promise<Record<string, number>> {
  const dir = join(stateDir, 'scores');
  const { LevelStore } = storeModule();
  const liveMiB = mib(directoryBytes(dir) / 1048576);
  const now = Date.now();
  const flooded = await LevelStore.open(dir);
  // The prefilled keys and those the load created.
  const recordsLive = await flooded.size();
  await writeKeys(flooded, KEYS, now, true);
  const recordsWithFlood = await flooded.size();
  await flooded.close();
  const withFloodMiB = mib(directoryBytes(dir) / 1048576);
  const store = await LevelStore.open(dir);
  const started = performance.now();
  const swept = await store.sweep(now + MINUTE);
  const sweepSeconds = Math.round((performance.now() - started) / 100) / 10;
  const recordsAfter = await store.size();
  await store.close();
  const result = {
    records_live: recordsLive,
    leveldb_mib_live: liveMiB,
    records_with_flood: recordsWithFlood,
    leveldb_mib_with_flood: withFloodMiB,
    swept,
    sweep_and_compact_seconds: sweepSeconds,
    records_after_sweep: recordsAfter,
    leveldb_mib_after_sweep: mib(directoryBytes(dir) / 1048576),
  };
  console.log(`expiry: ${JSON.stringify(result)}`);
  return result;
}

function directoryBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { recursive: true }) as string[]) {
    const stat = statSync(join(dir, entry));
    if (stat.isFile()) total += stat.size;
  }
  return total;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mib = (n: number): number => Math.round(n * 10) / 10;

async function main(): Promise<void> {
  const started = new Date().toISOString();
  const stateDir = mkdtempSync(join(TMP, 'memory-state-'));
  try {
    console.log(`== memory: ${KEYS.toLocaleString('en-US')} live keys, ${IDLE_CONNECTIONS} idle MTA connections`);
    const filled = await prefill(stateDir);
    console.log(`prefilled ${filled.records.toLocaleString('en-US')} records in ${filled.seconds} s; LevelDB ${mib(directoryBytes(join(stateDir, 'scores')) / 1048576)} MiB`);
    const floodgate = await startMilter('floodgate', { stateDir });
    let result: Record<string, unknown>;
    try {
      await sleep(2000);
      const atStart = processMemory(floodgate.mainPid);
      // Ordinary traffic first: the JIT, the LevelDB block cache and the buffers of a working service, and
      // enough sessions (4 keys each) to fill LevelStore's 65,536-key cache, so its full size is counted.
      // At a fixed rate, so that every build under test meets the same sessions and keys: closed loop, a
      // faster build wrote more keys in the 20 s (4,600 against 2,600 sessions/s, issue 20) and its RSS
      // counted a quarter more live keys than a slower one's.
      const load = await runLoad(floodgate, { connections: 16, processes: 2, durationS: 20, warmupS: 1, rate: LOAD_RATE });
      await sleep(2000);
      const afterLoad = processMemory(floodgate.mainPid);
      const idle = spawnTracked(ensureGenerator(), ['--idle', '-c', String(IDLE_CONNECTIONS), '-P', '4', '-d', '15', '-w', '0', floodgate.target]);
      let rss = 0;
      let fds = 0;
      for (let t = 0; t < 24; t++) {
        await sleep(500);
        if (t < 6) continue; // let the connections open and the session objects settle
        rss = Math.max(rss, processMemory(floodgate.mainPid).rssMiB);
        fds = Math.max(fds, readdirSync(`/proc/${floodgate.mainPid}/fd`).length);
      }
      const withIdle = processMemory(floodgate.mainPid);
      await idle.exited;
      const established = Number(/idle connections established: (\d+)/.exec(idle.output())?.[1] ?? NaN);
      result = {
        keys: KEYS,
        records: filled.records,
        prefill_seconds: filled.seconds,
        leveldb_mib: mib(directoryBytes(join(stateDir, 'scores')) / 1048576),
        rss_at_start_mib: mib(atStart.rssMiB),
        rss_after_load_mib: mib(afterLoad.rssMiB),
        load_sessions_per_s: load.sessions_per_s,
        idle_connections: IDLE_CONNECTIONS,
        idle_established: established,
        open_fds_with_idle: fds,
        rss_with_idle_mib: mib(rss),
        peak_rss_mib: mib(withIdle.peakMiB),
        // The 150 MB, in MiB as RSS is reported: 150e6 / 2^20.
        target_mib: 143.05,
      };
      console.log(JSON.stringify(result));
    } finally {
      await floodgate.stop();
    }
    // Floodgate holds LevelDB's lock while it runs; this part opens the directory itself.
    const expiry = await expiryCheck(stateDir);
    writeResult('memory.json', { meta: { started, source: sourceInfo(), machine: machineInfo() }, ...result, expiry });
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
