// Fault (issue 19): connection floods against the milter port while a real Postfix sends mail through
// it: 5,000 connections against max_connections: 1000, the same against a file-descriptor limit
// (ulimit -n) below max_connections, and 1,000 connections dripping a packet a byte at a time.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFloodgateProcess, type FloodgateProcess } from '../support/floodgate-process';
import { acceptedButMissing, startMailLoad, tally, type MailLoad } from '../support/mail-load';
import { MtaClient } from '../support/mta-client';
import { freePort } from '../support/ports';
import { startPostfix, type PostfixRig } from '../support/postfix-rig';
import { killAllTracked, waitFor } from '../support/processes';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink';

jest.setTimeout(120_000);

const dir = mkdtempSync(join(tmpdir(), 'fg-fault-conns-'));
const NORMAL = '192.0.2.141';
const MAX_CONNECTIONS = 1000;
/** Short, so that the drip test waits seconds: the deadline's logic does not depend on its length. */
const FRAME_TIMEOUT_MS = 3000;

let sink: SmtpSink;
let postfix: PostfixRig;
let floodgate: FloodgateProcess;
let configFile: string;
let milterPort: number;
let load: MailLoad;

/** Floodgate under `prlimit --nofile=N`: the file descriptors it may hold, sockets included. */
function startWithFileLimit(nofile: number): Promise<FloodgateProcess> {
  return startFloodgateProcess(configFile, undefined, { wrapper: ['prlimit', `--nofile=${nofile}`, '--'] });
}

function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return Math.round(kb / 102.4) / 10;
}

/** Opens n connections, 250 at a time (the listen backlog is 511); a refused connect counts as closed. */
async function openMany(n: number): Promise<MtaClient[]> {
  const clients: MtaClient[] = [];
  for (let done = 0; done < n; done += 250) {
    const batch = await Promise.all(Array.from({ length: Math.min(250, n - done) }, () => MtaClient.open({ port: milterPort }).catch(() => undefined)));
    clients.push(...batch.filter((c): c is MtaClient => c !== undefined));
  }
  return clients;
}

/** Negotiates on every connection still open: each must get its OPTNEG answer. */
async function negotiateAll(clients: MtaClient[]): Promise<number> {
  const answers = await Promise.all(clients.map((c) => c.negotiate().then(() => true, () => false)));
  return answers.filter(Boolean).length;
}

async function mailFlowsAgain(what: string): Promise<void> {
  const from = Date.now();
  await waitFor(() => load.messages.some((m) => m.startedAt > from && m.accepted), 20_000,
    () => `an accepted message ${what}: ${JSON.stringify(tally(load.messages.filter((m) => m.startedAt > from)))}\n${floodgate.log().slice(-2000)}`);
}

beforeAll(async () => {
  sink = await startSmtpSink();
  milterPort = await freePort();
  configFile = join(dir, 'floodgate.yml');
  writeFileSync(configFile, `listen: inet:127.0.0.1:${milterPort}\nstate_dir: state\nlimits: { max_connections: ${MAX_CONNECTIONS}, frame_timeout: ${FRAME_TIMEOUT_MS}ms }\nhttp: { listen: "off" }\ntracking: { backend: "off" }\n`);
  // Room for 1,000 MTA connections and the service's own files (LevelDB, admin socket, stdio).
  floodgate = await startWithFileLimit(1200);
  postfix = await startPostfix({ milter: `inet:127.0.0.1:${milterPort}`, relayPort: sink.port, milterDefaultAction: 'tempfail' });
  load = startMailLoad(postfix.smtpPort, [{ ip: NORMAL, concurrency: 1, pauseMs: 50 }], 'conns');
  await mailFlowsAgain('before the floods');
});

afterAll(async () => {
  await load?.stop();
  await postfix?.stop();
  await killAllTracked();
  await sink?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('5,000 connections against max_connections: 1000: the excess is refused, the held ones are answered, mail flows after', async () => {
  // 5,000 is five times the limit: enough that the refusal path runs thousands of times in a burst.
  const clients = await openMany(5000);
  await new Promise((r) => setTimeout(r, 1000));
  const held = clients.filter((c) => !c.closed);
  // Postfix's own session may hold one of the thousand.
  expect(held.length).toBeGreaterThanOrEqual(MAX_CONNECTIONS - 2);
  expect(held.length).toBeLessThanOrEqual(MAX_CONNECTIONS);
  expect(await negotiateAll(held)).toBe(held.length);
  expect(floodgate.process.child.exitCode).toBeNull();
  // One line for the first refusal; the rest are counted into a summary line every 10 s.
  const refusedLines = floodgate.log().split('\n').filter((l) => l.includes('"message":"MTA connection refused"'));
  expect(refusedLines).toHaveLength(1);
  expect(refusedLines[0]).toContain(`"reason":"connection limit ${MAX_CONNECTIONS} reached"`);
  process.stdout.write(`fault-connections: 5000 opened, ${held.length} held and answered, ${clients.length - held.length} refused; Floodgate RSS ${rssMiB(floodgate.process.pid)} MiB\n`);
  held.forEach((c) => c.close());
  await mailFlowsAgain('after the 5,000 connections closed');
});

test('1,000 connections dripping a packet a byte a second are all cut frame_timeout after their first byte, memory bounded', async () => {
  // Scaled from the "a byte every 10 s against the 30 s default": a byte a second against
  // 3 s. A silence timeout would never fire (no gap reaches 3 s); the deadline must.
  const rssBefore = rssMiB(floodgate.process.pid);
  const clients = await openMany(MAX_CONNECTIONS - 10); // room left for Postfix's sessions
  expect(await negotiateAll(clients)).toBe(clients.length);
  const startedAt = Date.now();
  for (const c of clients) c.raw(Buffer.from([0, 0, 0x10, 0])); // a packet announced as 4,096 bytes
  const closedAt = new Map<MtaClient, number>();
  const drip = setInterval(() => {
    for (const c of clients) {
      if (c.closed) closedAt.set(c, closedAt.get(c) ?? Date.now());
      else c.raw(Buffer.from([0x44]));
    }
  }, 1000);
  let rssDuring = 0;
  setTimeout(() => (rssDuring = rssMiB(floodgate.process.pid)), FRAME_TIMEOUT_MS - 1000);
  try {
    await waitFor(() => clients.every((c) => c.closed), 20_000, () => `every dripping connection cut: ${clients.filter((c) => !c.closed).length} still open`);
  } finally {
    clearInterval(drip);
  }
  const cutAfter = clients.map((c) => (closedAt.get(c) ?? Date.now()) - startedAt);
  // The drip loop notices a close at its next tick: up to a second late.
  expect(Math.min(...cutAfter)).toBeGreaterThanOrEqual(FRAME_TIMEOUT_MS - 100);
  const timeouts = (): string[] => floodgate.log().split('\n').filter((l) => l.includes(`"error":"MTA did not complete a packet within ${FRAME_TIMEOUT_MS} ms"`));
  // Each line is written before its socket is cut, but it reaches this process through the logger's
  // stream and the service's stdout, the close through the socket: no order between the two (CI saw
  // 540 of 990 lines at the moment the last close arrived). So the lines are waited for.
  await waitFor(() => timeouts().length >= clients.length, 10_000, () => `${timeouts().length} of ${clients.length} timeout lines`);
  expect(timeouts()).toHaveLength(clients.length);
  // Bounded: 990 half-received packets cost the connections themselves (measured +2.5 MiB), not the
  // bytes announced (4 MiB in all) or dripped. 64 MiB is a loose ceiling on a loaded machine; the
  // real bound is the cut above, without which each connection would be held for ever.
  expect(rssDuring - rssBefore).toBeLessThan(64);
  process.stdout.write(`fault-connections: ${clients.length} dripping connections cut after ${Math.min(...cutAfter)}-${Math.max(...cutAfter)} ms (frame_timeout ${FRAME_TIMEOUT_MS} ms); RSS ${rssBefore} MiB before, ${rssDuring} MiB during\n`);
  await mailFlowsAgain('after the dripping connections were cut');
});

test('ulimit -n below max_connections: connections past the descriptor limit are dropped, the service stays up and takes mail after', async () => {
  await floodgate.stop();
  // 256 descriptors against max_connections: 1000: accept() fails with EMFILE long before the limit.
  floodgate = await startWithFileLimit(256);
  await mailFlowsAgain('after the restart under ulimit -n 256');
  const clients = await openMany(2000);
  await new Promise((r) => setTimeout(r, 1000));
  const held = clients.filter((c) => !c.closed);
  expect(held.length).toBeLessThan(256);
  expect(held.length).toBeGreaterThan(100);
  expect(await negotiateAll(held)).toBe(held.length);
  expect(floodgate.process.child.exitCode).toBeNull();
  process.stdout.write(`fault-connections: ulimit -n 256: 2000 opened, ${held.length} held and answered, the rest dropped; the service stayed up\n`);
  held.forEach((c) => c.close());
  await mailFlowsAgain('after the connections past the descriptor limit closed');
  await load.stop();
  for (const outcome of Object.keys(tally(load.messages))) expect(outcome).toMatch(/^(250@endOfData|451@\w+)$/);
  await waitFor(() => acceptedButMissing(load.messages, sink.messages).length === 0, 30_000, 'every accepted message at the sink');
  expect(floodgate.log()).not.toMatch(/"level":"error"/);
});
