// The status page's weight and first render in Debian's headless Chromium: bytes transferred on a first
// (cold) load, every request counted from Chromium's network events, first-contentful-paint, and the
// time until the first data is drawn; medians of several loads. Prints figures; asserts nothing.
//
// After `npm run build`, as root (the rig runs a private Postfix), with scripts/install-test-deps.sh:
//   npx tsc -p tsconfig.json --outDir bench/results/tmp/js && node bench/results/tmp/js/bench/status-page/page-bench.js [loads=7]
// The service holds what a flood leaves (the rig's flooder past its tempfail threshold, 500 recent
// answers at most), so that the API answers are full-sized.
import type { Browser, CDPSession } from 'playwright-core';
import { launchChromium } from '../../test/support/browser';
import { median } from '../../test/support/message-latency';
import { killAllTracked, waitFor } from '../../test/support/processes';
import { VIEWPORT } from '../../test/support/status-page';
import { startStatusPageRig } from '../../test/support/status-page-rig';

interface Transfer {
  url: string;
  type: string;
  bytes: number;
  done: boolean;
}

interface Load {
  requests: number;
  /** Bytes on the wire (headers and bodies, Chromium's encodedDataLength) by resource type, and in all. */
  bytes: Record<string, number>;
  fcpMs: number;
  firstDataMs: number;
  loadEventMs: number;
  /** The same page loaded again in the same browser: revalidated by ETag. */
  repeatBytes: number;
}

/** Every request of the page from now on, with its bytes once finished. */
async function recordTransfers(cdp: CDPSession): Promise<Map<string, Transfer>> {
  const transfers = new Map<string, Transfer>();
  cdp.on('Network.requestWillBeSent', (e) => transfers.set(e.requestId, { url: e.request.url, type: e.type ?? 'Other', bytes: 0, done: false }));
  cdp.on('Network.loadingFinished', (e) => Object.assign(transfers.get(e.requestId) ?? {}, { bytes: e.encodedDataLength, done: true }));
  cdp.on('Network.loadingFailed', (e) => Object.assign(transfers.get(e.requestId) ?? {}, { done: true }));
  await cdp.send('Network.enable');
  return transfers;
}

/** Until the first data is drawn and the first poll's four API answers are in. */
async function loaded(transfers: Map<string, Transfer>, settle: () => Promise<unknown>): Promise<void> {
  await settle();
  await waitFor(() => [...transfers.values()].filter((t) => t.url.includes('/api/')).length >= 4 && [...transfers.values()].every((t) => t.done), 15_000, 'the first poll to finish');
}

async function coldLoad(browser: Browser, url: string): Promise<Load> {
  const context = await browser.newContext({ viewport: VIEWPORT });
  try {
    const page = await context.newPage();
    const transfers = await recordTransfers(await context.newCDPSession(page));
    const firstData = () => page.waitForFunction(() => performance.getEntriesByName('floodgate:first-data').length > 0, undefined, { timeout: 15_000 });
    await page.goto(url, { waitUntil: 'load' });
    await loaded(transfers, firstData);
    // Evaluated in the page, written as text: the navigation entry is a DOM type that Node's typings lack.
    const timing = (await page.evaluate(`({
      fcpMs: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN,
      firstDataMs: performance.getEntriesByName('floodgate:first-data')[0].startTime,
      loadEventMs: performance.getEntriesByType('navigation')[0].loadEventEnd,
    })`)) as Pick<Load, 'fcpMs' | 'firstDataMs' | 'loadEventMs'>;
    const bytes: Record<string, number> = { total: 0 };
    for (const t of transfers.values()) {
      const kind = t.url.includes('/api/') ? 'api' : t.type.toLowerCase();
      bytes[kind] = (bytes[kind] ?? 0) + t.bytes;
      bytes.total += t.bytes;
    }
    const requests = transfers.size;
    transfers.clear();
    await page.reload({ waitUntil: 'load' });
    await loaded(transfers, firstData);
    const repeatBytes = [...transfers.values()].reduce((sum, t) => sum + t.bytes, 0);
    return { requests, bytes, ...timing, repeatBytes };
  } finally {
    await context.close();
  }
}

function row(label: string, values: number[], unit: string): string {
  const f = (n: number) => `${Math.round(n).toLocaleString('en-US')}${unit}`;
  return `  ${label.padEnd(34)} ${f(median(values)).padStart(10)}   (${f(Math.min(...values))} - ${f(Math.max(...values))})`;
}

async function main(runs: number): Promise<void> {
  const chromium = await launchChromium();
  const rig = await startStatusPageRig().catch(async (error: unknown) => {
    await chromium.close();
    throw error;
  });
  try {
    const flood = rig.startFlood(0);
    await waitFor(() => flood.sent >= 300, 120_000, 'the flood to fill the recent answers');
    const outcomes = await flood.stop();
    const loads: Load[] = [];
    for (let i = 0; i < runs; i++) loads.push(await coldLoad(chromium.browser, rig.url));
    const kinds = [...new Set(loads.flatMap((l) => Object.keys(l.bytes)))].filter((k) => k !== 'total');
    const lines = [
      `status page, ${runs} cold loads in headless Chromium (${VIEWPORT.width}x${VIEWPORT.height}), after a flood of ${outcomes.length} messages; median (min - max)`,
      row('requests', loads.map((l) => l.requests), ''),
      row('bytes transferred, first load', loads.map((l) => l.bytes.total), ' B'),
      ...kinds.map((k) => row(`  of which ${k}`, loads.map((l) => l.bytes[k] ?? 0), ' B')),
      row('bytes transferred, repeat load', loads.map((l) => l.repeatBytes), ' B'),
      row('first-contentful-paint', loads.map((l) => l.fcpMs), ' ms'),
      row('first data drawn (charts)', loads.map((l) => l.firstDataMs), ' ms'),
      row('load event', loads.map((l) => l.loadEventMs), ' ms'),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await chromium.close();
    await rig.stop();
    await killAllTracked();
  }
}

main(Number(process.argv[2] ?? 7)).catch((error: unknown) => {
  process.stderr.write(`page-bench: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
