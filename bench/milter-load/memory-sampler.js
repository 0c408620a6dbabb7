// Preloaded into Floodgate by the soak bench (node --require): appends the process's memory figures as
// one JSON line every FLOODGATE_MEMORY_SAMPLE_MS (default 15 s) to the file FLOODGATE_MEMORY_SAMPLES.
// What only the process can see (V8 heap, external memory, ArrayBuffers) beside what /proc shows from
// outside, so a soak can tell growth of the JS heap from growth of native memory. Also the event loop's
// lag (issue 19: p99 under 10 ms over a soak): since the last sample, and over the whole run.
// Bench-only: never shipped.
'use strict';
const { appendFileSync, readFileSync } = require('node:fs');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const diagnostics = require('node:diagnostics_channel');

/**
 * The histogram times a repeating RESOLUTION_MS timer: each value is the interval between two fires,
 * so the lag is the value minus the interval (measured on an idle loop: minimum 10.04 ms at 10).
 */
const RESOLUTION_MS = 10;
const sinceSample = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
const wholeRun = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
const lagMs = (histogram, percentile) => Math.max(0, Math.round((histogram.percentile(percentile) / 1e6 - RESOLUTION_MS) * 100) / 100);

/**
 * MTA connections accepted so far: one per SMTP session. The live keys, and so the records a sweep
 * leaves and LevelDB's size, follow the session rate, which this machine's speed moves by a third
 * within a minute; the soak compares them per session.
 */
let sessions = 0;
diagnostics.subscribe('net.server.socket', () => {
  sessions++;
});

const file = process.env.FLOODGATE_MEMORY_SAMPLES;
const intervalMs = Number(process.env.FLOODGATE_MEMORY_SAMPLE_MS || 15000);
const started = Date.now();

/** Resident KiB of the brk heap (glibc's main malloc arena): where classic-level's leak of issue 21 showed. */
function brkHeapKiB() {
  const smaps = readFileSync('/proc/self/smaps', 'utf8');
  const at = smaps.indexOf('[heap]');
  if (at < 0) return 0;
  const rss = /Rss:\s+(\d+)/.exec(smaps.slice(at));
  return rss ? Number(rss[1]) : 0;
}

function sample() {
  const m = process.memoryUsage();
  const line = {
    t_ms: Date.now() - started,
    rss: m.rss,
    heap_used: m.heapUsed,
    heap_total: m.heapTotal,
    external: m.external,
    array_buffers: m.arrayBuffers,
    malloc_heap: brkHeapKiB() * 1024,
    loop_lag_p99_ms: lagMs(sinceSample, 99),
    loop_lag_max_ms: Math.max(0, Math.round((sinceSample.max / 1e6 - RESOLUTION_MS) * 100) / 100),
    loop_lag_p99_run_ms: lagMs(wholeRun, 99),
    sessions,
  };
  sinceSample.reset();
  appendFileSync(file, `${JSON.stringify(line)}\n`);
}

if (file) {
  sinceSample.enable();
  wholeRun.enable();
  sample();
  setInterval(sample, intervalMs).unref();
}
