// Per-message latency through real Sendmail and Postfix over TCP: no milter, Floodgate with and without TCP_QUICKACK, C libmilter.
//
// Run as root after scripts/install-test-deps.sh (ts-node is not a dependency, so compile first):
//   npx tsc -p tsconfig.json --outDir bench/results/tmp/latency && node bench/results/tmp/latency/bench/latency-bench.js [rounds] [messages]
// Each round sends `messages` (default 20) one after another on one SMTP session per case, the
// cases alternating round by round (default 5 rounds); medians are over every message of a case.
// The C column needs libmilter-dev (apt-get install libmilter-dev); the script builds
// bench/ref-milter/ref.c itself and leaves the column out, saying why, when it cannot.
// Prints figures; asserts nothing.
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { getQuickAck, quickAckerFor, quickAckUnavailable, setQuickAck } from '../src/native/tcp-quickack';
import { socketFd } from '../src/native/libc';
import type { QuickAck } from '../src/server/connection';
import { MilterServer } from '../src/server/milter-server';
import { TEST_SETTINGS, startMilter } from '../test/support/milter-under-test';
import { continueHandler, measureSession, median } from '../test/support/message-latency';
import { freePort, isListening } from '../test/support/ports';
import { startPostfix } from '../test/support/postfix-rig';
import { runCommand, spawnTracked, waitFor, type TrackedProcess } from '../test/support/processes';
import { startSendmail } from '../test/support/sendmail-rig';
import { startSmtpSink } from '../test/support/smtp-sink';

/** The compile root (bench/results/tmp/latency), which holds this file as bench/latency-bench.js. */
const OUT = resolve(__dirname, '..');
const REPO = findRepo(OUT);
const REF_SOURCE = join(REPO, 'bench', 'ref-milter', 'ref.c');
const REF_BINARY = join(OUT, 'ref-accept');

function findRepo(from: string): string {
  for (let dir = from; dir !== '/'; dir = resolve(dir, '..')) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bench', 'ref-milter', 'ref.c'))) return dir;
  }
  throw new Error(`no repository above ${from}`);
}

type Mode = 'off' | QuickAck['policy'];
const MODES: Mode[] = ['off', 'unanswered', 'every-read'];

/** ns per call of the wrapper, on a connected loopback socket (what connection.ts pays per read). */
async function callCost(): Promise<void> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const client = connect(port, '127.0.0.1');
  const socket = await accepted;
  const found = socketFd(socket);
  const acker = quickAckerFor(socket);
  if ('reason' in found || 'reason' in acker) throw new Error('no fd or binding on a loopback socket');
  const time = (label: string, fn: () => unknown, n = 1_000_000): void => {
    for (let i = 0; i < 10_000; i++) fn();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn();
    console.log(`  ${label.padEnd(44)} ${(((performance.now() - t0) * 1e6) / n).toFixed(0).padStart(5)} ns/call`);
  };
  console.log('TCP_QUICKACK call cost (koffi -> setsockopt):');
  time('ackNow() (per read, fd resolved once)', acker.ackNow);
  time('setQuickAck(fd) (binding looked up per call)', () => setQuickAck(found.fd));
  time('getQuickAck(fd)', () => getQuickAck(found.fd));
  time('empty JS call, for scale', () => undefined);
  client.destroy();
  socket.destroy();
  await new Promise<void>((r) => server.close(() => r()));
}

/** Builds ref.c once; undefined (with the reason printed) when gcc or libmilter-dev is missing. */
async function buildReference(): Promise<string | undefined> {
  if (existsSync(REF_BINARY)) return REF_BINARY;
  mkdirSync(OUT, { recursive: true });
  const gcc = await runCommand('gcc', ['-O2', '-o', REF_BINARY, REF_SOURCE, '-lmilter', '-lpthread']).catch((e: Error) => ({ code: 1, stderr: e.message }));
  if (gcc.code === 0) return REF_BINARY;
  console.log(`C reference milter left out: cannot build ${REF_SOURCE} (apt-get install gcc libmilter-dev):\n${gcc.stderr.trim()}`);
  return undefined;
}

async function startReference(binary: string): Promise<{ port: number; process: TrackedProcess }> {
  const port = await freePort();
  const child = spawnTracked(binary, [`inet:${port}@127.0.0.1`]);
  await waitFor(() => isListening(port), 10_000, `reference milter on port ${port}`);
  return { port, process: child };
}

interface Row {
  mta: string;
  label: string;
  samples: number[];
  setup: number[];
}

/** Runs every case of one MTA, alternating them round by round. */
async function benchMta(
  mta: 'Sendmail' | 'Postfix',
  start: (milter: string | undefined) => Promise<{ smtpPort: number; stop(): Promise<void> }>,
  reference: string | undefined,
  rounds: number,
  messages: number,
): Promise<Row[]> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const rows = new Map<string, Row>();
  const record = async (label: string, port: number): Promise<void> => {
    const result = await measureSession(port, messages);
    const row = rows.get(label) ?? { mta, label, samples: [], setup: [] };
    row.samples.push(...result.perMessageMs);
    row.setup.push(result.setupMs);
    rows.set(label, row);
  };
  try {
    const { server: milter } = await startMilter(continueHandler());
    cleanups.push(() => milter.close(1000));
    const ref = reference ? await startReference(reference) : undefined;
    if (ref) cleanups.push(() => ref.process.kill(0)); // libmilter lingers seconds after SIGTERM; it holds no state
    const spec = (port: number): string => (mta === 'Sendmail' ? `inet:${port}@127.0.0.1` : `inet:127.0.0.1:${port}`);
    const mtaFor = async (milterSpec: string | undefined): Promise<{ smtpPort: number }> => {
      const instance = await start(milterSpec);
      cleanups.unshift(() => instance.stop());
      return instance;
    };
    const bare = await mtaFor(undefined);
    const through = await mtaFor(spec(milter.port));
    const viaRef = ref ? await mtaFor(spec(ref.port)) : undefined;
    for (let round = 0; round < rounds; round++) {
      await record('no milter', bare.smtpPort);
      for (const mode of MODES) {
        // Settings apply to milter connections accepted from now on: one per SMTP session.
        reconfigure(milter, mode);
        await record(`Floodgate, quick-ACK ${mode}`, through.smtpPort);
      }
      if (viaRef) await record('C libmilter reference', viaRef.smtpPort);
    }
  } finally {
    // MTAs first (they hold milter connections), then the milters.
    for (const cleanup of cleanups) await cleanup().catch((error: unknown) => console.error('cleanup:', error));
  }
  return [...rows.values()];
}

function reconfigure(milter: MilterServer, mode: Mode): void {
  const settings = mode === 'off' ? { ...TEST_SETTINGS, tcpQuickAck: false } : { ...TEST_SETTINGS, tcpQuickAck: true, tcpQuickAckPolicy: mode };
  milter.reconfigure(continueHandler(), settings);
}

function printTable(rows: Row[]): void {
  const p90 = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length * 0.9)];
  console.log('\nPer-message latency on one SMTP session, milter over TCP (MAIL FROM to end-of-data reply):');
  console.log(`  ${'MTA'.padEnd(9)} ${'case'.padEnd(34)} ${'median'.padStart(9)} ${'added'.padStart(9)} ${'p90'.padStart(9)} ${'session setup'.padStart(14)}`);
  for (const row of rows) {
    const base = rows.find((r) => r.mta === row.mta && r.label === 'no milter');
    const added = base ? median(row.samples) - median(base.samples) : NaN;
    const ms = (v: number): string => `${v.toFixed(1)} ms`;
    console.log(`  ${row.mta.padEnd(9)} ${row.label.padEnd(34)} ${ms(median(row.samples)).padStart(9)} ${ms(added).padStart(9)} ${ms(p90(row.samples)).padStart(9)} ${ms(median(row.setup)).padStart(14)}`);
  }
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 5);
  const messages = Number(process.argv[3] ?? 20);
  const unavailable = quickAckUnavailable();
  if (unavailable) throw new Error(`TCP_QUICKACK binding unavailable: ${unavailable}`);
  // The Sendmail rig looks for the unpacked Sendmail two levels above its own (compiled) file.
  if (OUT !== REPO && !existsSync(join(OUT, '.test-deps'))) symlinkSync(join(REPO, '.test-deps'), join(OUT, '.test-deps'));
  await callCost();
  const reference = await buildReference();
  const sink = await startSmtpSink();
  try {
    const rows = [
      ...(await benchMta('Sendmail', (milter) => startSendmail({ relayPort: sink.port, logLevel: 0, ...(milter ? { milter } : {}) }), reference, rounds, messages)),
      ...(await benchMta('Postfix', (milter) => startPostfix({ relayPort: sink.port, ...(milter ? { milter } : {}) }), reference, rounds, messages)),
    ];
    printTable(rows);
    console.log(`\n${rounds} rounds x ${messages} messages per case; "added" is the median minus the same MTA's median with no milter.`);
  } finally {
    await sink.close();
  }
}

main().then(
  // A stray handle (an MTA's half-closed session) must not keep a finished run alive.
  () => process.exit(),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
