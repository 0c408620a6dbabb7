// Preloaded into Floodgate by the soak bench (node --require): appends the process's memory figures as
// one JSON line every FLOODGATE_MEMORY_SAMPLE_MS (default 15 s) to the file FLOODGATE_MEMORY_SAMPLES.
// What only the process can see (V8 heap, external memory, ArrayBuffers) beside what /proc shows from
// outside, so a soak can tell growth of the JS heap from growth of native memory. Bench-only: never shipped.
'use strict';
const { appendFileSync, readFileSync } = require('node:fs');

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
  };
  appendFileSync(file, `${JSON.stringify(line)}\n`);
}

if (file) {
  sample();
  setInterval(sample, intervalMs).unref();
}
