// Issue 19: the wire fuzzer. Real Postfix and Sendmail conversations (test/fixtures/milter-corpus/),
// mutated by a seeded PRNG (bit flips, truncation, splicing, length fields at 0, 1, 2^31, 2^32-1,
// dropped, repeated, swapped and garbage packets, replaced command bytes), sent over TCP to the
// built service: no crash, no stuck connection, every reply a well-formed frame, at most one log
// line per connection, a bad length always logged, and the unmutated corpus still answered as captured.
//
// FLOODGATE_FUZZ_SEED=n replays a run (the seed is printed); FLOODGATE_FUZZ_CONVERSATIONS=n sets
// the count (default 100,000). Its own jest project, run alone (scripts/test-full.sh): ~30 s at full
// CPU starved a timing-bound test (the SQLite reader of sqlite-tracking-store.test.ts) beside it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFloodgateProcess, type FloodgateProcess } from '../support/floodgate-process';
import { CORPUS_RULES, readCorpus, splitFrames } from '../support/milter-corpus';
import { hasBadLengthBeforeQuit, mutate, Prng, type MutationKind } from '../support/milter-mutator';
import { freePort } from '../support/ports';
import { killAllTracked } from '../support/processes';

const CONVERSATIONS = Number(process.env.FLOODGATE_FUZZ_CONVERSATIONS ?? 100_000);
const SEED = Number(process.env.FLOODGATE_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
/** Connections in flight at once. */
const PARALLEL = 64;
/** One conversation in SILENT_EVERY ends without the client closing: the server's timeouts must end it. */
const SILENT_EVERY = 100;
const FRAME_TIMEOUT_MS = 1000;
const IDLE_TIMEOUT_MS = 2000;
const MAX_FRAME_BYTES = 1024 * 1024;
/** Longest a connection may stay open after its last byte: the idle timeout, and room for a loaded machine. */
const BOUND_MS = IDLE_TIMEOUT_MS + 8000;

/** Replies Floodgate may send (SMFIR_*, and the negotiation answer 'O'). */
const REPLY_CODES = new Set('+-24abcdehimpqrsty O'.replace(' ', '').split('').map((c) => c.charCodeAt(0)));

jest.setTimeout(Math.max(300_000, CONVERSATIONS * 5));

const corpus = readCorpus().flatMap((file) => file.conversations.map((c) => ({ mta: file.mta, scenario: c.scenario, packets: c.packets.map((h) => Buffer.from(h, 'hex')), replies: c.replies })));
const dir = mkdtempSync(join(tmpdir(), 'fg-fuzz-'));
let port: number;
let floodgate: FloodgateProcess;

beforeAll(async () => {
  port = await freePort();
  writeFileSync(join(dir, 'rules.yml'), CORPUS_RULES);
  writeFileSync(
    join(dir, 'floodgate.yml'),
    `listen: inet:127.0.0.1:${port}\nrules: rules.yml\nstate_dir: state\nstore: { backend: memory }\ntracking: { backend: "off" }\nhttp: { listen: "off" }\n` +
      `limits: { max_connections: 1000, max_frame_bytes: ${MAX_FRAME_BYTES}, frame_timeout: ${FRAME_TIMEOUT_MS}ms, idle_timeout: ${IDLE_TIMEOUT_MS}ms }\n`,
  );
  floodgate = await startFloodgateProcess(join(dir, 'floodgate.yml'));
});

afterAll(async () => {
  await killAllTracked();
  rmSync(dir, { recursive: true, force: true });
});

interface Outcome {
  /** Closed by the server within the bound (or, for a FIN conversation, after ours). */
  closed: boolean;
  replies: Buffer;
  reset: boolean;
}

/** Sends the bytes in one write; with `fin` half-closes, as an MTA dropping the session does. */
function play(bytes: Buffer, fin: boolean): Promise<Outcome> {
  return new Promise((resolve) => {
    const received: Buffer[] = [];
    let reset = false;
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(bytes);
      if (fin) socket.end();
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ closed: false, replies: Buffer.concat(received), reset });
    }, BOUND_MS);
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', () => (reset = true));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, replies: Buffer.concat(received), reset });
    });
  });
}

/** Every frame the server sent is whole, non-empty and a reply code it may send. */
function malformedReply(replies: Buffer): string | undefined {
  for (const frame of splitFrames(replies)) {
    if (frame.length < 5 || frame.readUInt32BE(0) !== frame.length - 4) return `partial or empty frame ${frame.toString('hex').slice(0, 40)}`;
    if (!REPLY_CODES.has(frame[4])) return `unknown reply code 0x${frame[4].toString(16)}`;
  }
  return undefined;
}

interface LogLine {
  level: string;
  message: string;
  conn?: string;
  code?: string;
}

function logLines(): LogLine[] {
  return floodgate
    .log()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

test(`${CONVERSATIONS} mutated conversations: no crash, no stuck connection, one log line per refused connection`, async () => {
  console.log(`milter fuzz: seed ${SEED} (FLOODGATE_FUZZ_SEED=${SEED} replays this run), ${CONVERSATIONS} conversations from ${corpus.length} captured`);
  const rng = new Prng(SEED);
  const failures: string[] = [];
  const kinds = new Map<MutationKind, number>();
  let silent = 0;
  let badLength = 0;
  let resets = 0;
  let answered = 0;
  let next = 0;
  const started = Date.now();

  async function worker(): Promise<void> {
    while (next < CONVERSATIONS && failures.length < 20) {
      const index = next++;
      const base = rng.pick(corpus);
      const { packets, applied } = mutate(rng, base.packets, rng.pick(corpus).packets);
      const fin = index % SILENT_EVERY !== 0;
      const bytes = Buffer.concat(packets);
      for (const kind of applied) kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      if (!fin) silent++;
      if (hasBadLengthBeforeQuit(bytes, MAX_FRAME_BYTES)) badLength++;
      const outcome = await play(bytes, fin);
      if (outcome.reset) resets++;
      if (outcome.replies.length > 0) answered++;
      const bad = malformedReply(outcome.replies);
      const what = () => `conversation ${index} (${base.mta}, "${base.scenario}", ${applied.join('+')}, ${fin ? 'client closes' : 'client stays silent'})`;
      if (!outcome.closed) failures.push(`${what()}: still open ${BOUND_MS} ms after its last byte`);
      else if (bad) failures.push(`${what()}: ${bad}`);
    }
  }
  await Promise.all(Array.from({ length: PARALLEL }, () => worker()));
  const seconds = (Date.now() - started) / 1000;

  expect(failures).toEqual([]);
  expect(floodgate.process.child.exitCode).toBeNull(); // no crash

  const lines = logLines();
  const refused = lines.filter((l) => l.message === 'protocol error, connection closed');
  // Anything else at warn or error level is a finding (a handler error, an exception).
  expect(lines.filter((l) => (l.level === 'warn' || l.level === 'error') && l.message !== 'protocol error, connection closed')).toEqual([]);
  // One line per connection: no connection id twice.
  expect(new Set(refused.map((l) => l.conn)).size).toBe(refused.length);
  // Every conversation with a zero or oversized length before any QUIT costs a line (they are
  // among the refused; others are refused for bad commands or timeouts). At most one per conversation.
  expect(refused.length).toBeGreaterThanOrEqual(badLength);
  expect(refused.length).toBeLessThanOrEqual(CONVERSATIONS);
  const codes = new Map<string, number>();
  for (const l of refused) codes.set(l.code ?? '?', (codes.get(l.code ?? '?') ?? 0) + 1);
  console.log(
    `milter fuzz: ${CONVERSATIONS} conversations in ${seconds.toFixed(1)} s (${Math.round(CONVERSATIONS / seconds)}/s), ${silent} silent; ` +
      `${answered} answered, ${refused.length} refused with one log line (${[...codes].map(([c, n]) => `${c} ${n}`).join(', ')}), ` +
      `${badLength} with a bad length before QUIT, ${resets} reset; mutations ${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}`,
  );
});

test('after the fuzzing, the unmutated corpus is answered as it was captured', async () => {
  const before = logLines().length;
  for (const conversation of corpus) {
    const outcome = await play(Buffer.concat(conversation.packets), false);
    expect(outcome.closed).toBe(true); // every captured conversation ends with QUIT
    // Header marks ('h') depend on the scores the fuzzing left; every other answer comes from a rule.
    const codes = (frames: Buffer[]) => frames.map((f) => String.fromCharCode(f[4])).filter((c) => c !== 'h').join('');
    expect(`${conversation.scenario}: ${codes(splitFrames(outcome.replies))}`).toBe(`${conversation.scenario}: ${codes(conversation.replies.map((h) => Buffer.from(h, 'hex')))}`);
  }
  expect(logLines().slice(before).filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([]);
  expect(floodgate.process.child.exitCode).toBeNull();
});
