// Fault (issue 19): the wall clock stepped back an hour, then forward a day, under Floodgate (the real
// process under libfaketime, Debian's faketime package) while mail flows through a real Postfix on
// the real clock. Scores must stay finite and non-negative, a step back must not release or inflate a
// flooder, delays must last what the rules say, and a day forward must expire the scores.
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { floodgateCli, type FloodgateProcess } from '../support/floodgate-process';
import { acceptedButMissing, startMailLoad, tally, type MailLoad } from '../support/mail-load';
import type { PostfixRig } from '../support/postfix-rig';
import { waitFor } from '../support/processes';
import { sendMail } from '../support/smtp-client';
import type { SmtpSink } from '../support/smtp-sink';
import { startFloodgateBehindPostfix, stopFloodgateBehindPostfix, type FloodgateBehindPostfix } from '../support/floodgate-behind-postfix';

jest.setTimeout(120_000);

// The multi-threaded variant: node runs LevelDB and libuv's pool on threads of their own.
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';
const dir = mkdtempSync(join(tmpdir(), 'fg-fault-clock-'));
const clockFile = join(dir, 'faketime');
const FLOODER = '192.0.2.161';
const NORMAL = '192.0.2.162';
const DELAYED = '192.0.2.163';
/** Its sessions are refused at once by a rule of their own: the answer's log line carries the service's clock. */
const PROBE = '192.0.2.164';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// The normal client is allow-listed: it shows mail flowing through the service at every step
// without ever reaching the thresholds, however slowly a loaded machine runs the test.
const RULES = `keys:
  ip: { half_life: 10m }
lists:
  normal: { cidr: ["${NORMAL}/32"] }
  probe: { cidr: ["${PROBE}/32"] }
rules:
  - name: normal-client
    on: connect
    when: { client_ip: { list: normal } }
    ok: true
  - name: clock-probe
    on: connect
    when: { client_ip: { list: probe } }
    tempfail: { code: "451", ext: "4.7.1", text: "clock probe" }
  - name: recipients
    on: rcpt
    add: { ip: 1 }
thresholds:
  ip:
    - above: 10
      delay: 500ms
    - above: 20
      tempfail: { code: "451", ext: "4.7.1", text: "Too much mail from your address" }
`;

let sink: SmtpSink;
let postfix: PostfixRig;
let floodgate: FloodgateProcess;
let configFile: string;
let load: MailLoad;

let rig: FloodgateBehindPostfix;

beforeAll(async () => {
  if (!existsSync(LIBFAKETIME)) throw new Error(`${LIBFAKETIME} is missing: run scripts/install-test-deps.sh (Debian package faketime)`);
  writeFileSync(join(dir, 'rules.yml'), RULES);
  writeFileSync(clockFile, '+0\n');
  rig = await startFloodgateBehindPostfix(dir, 'rules: rules.yml\nstore: { sweep_interval: 1s }\nhttp: { listen: "off" }\ntracking: { backend: "off" }\n', {
    env: {
      LD_PRELOAD: LIBFAKETIME,
      FAKETIME_TIMESTAMP_FILE: clockFile,
      // Re-read the file every second; only the wall clock moves, as when NTP or an operator steps it
      // (timers run on CLOCK_MONOTONIC, which a step does not touch).
      FAKETIME_CACHE_DURATION: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    },
  });
  ({ sink, postfix, floodgate, configFile } = rig);
  load = startMailLoad(postfix.smtpPort, [{ ip: NORMAL, concurrency: 1, pauseMs: 200 }], 'clock');
});

afterAll(async () => {
  await load?.stop();
  await stopFloodgateBehindPostfix(rig, dir);
});

function send(ip: string, n: number) {
  return sendMail(postfix.smtpPort, { helo: 'pc.customer.example', xclient: `ADDR=${ip} NAME=[UNAVAILABLE]`, from: `user${n}@example.org`, rcpts: [`friend${n}@example.com`] });
}

/** Every score `scores top` shows, each checked to be a finite, non-negative number. */
async function allScores(): Promise<Map<string, number>> {
  const top = await floodgateCli('scores', 'top', '-n', '100', '--config', configFile);
  expect(top.code).toBe(0);
  const scores = new Map<string, number>();
  for (const line of top.stdout.split('\n').slice(1).filter(Boolean)) {
    const [key, score] = line.trim().split(/\s+/);
    if (key === 'no') continue; // "no scores"
    const value = Number(score);
    expect(Number.isFinite(value) && value >= 0).toBe(true);
    scores.set(key!, value);
  }
  return scores;
}

/** Steps Floodgate's wall clock and waits until its log lines carry the new time. */
async function stepClock(offset: string, shiftMs: number): Promise<void> {
  writeFileSync(clockFile, `${offset}\n`);
  await waitFor(async () => {
    await send(PROBE, 0); // an answer line with the service's timestamp
    const stamps = [...floodgate.log().matchAll(/"timestamp":"([^"]+)"/g)].map((m) => Date.parse(m[1]!));
    return Math.abs(stamps[stamps.length - 1]! - (Date.now() + shiftMs)) < 10 * 60_000;
  }, 15_000, () => `Floodgate's clock at ${offset}; log:\n${floodgate.log().slice(-1500)}`);
}

async function rcptOutcome(ip: string, n: number): Promise<{ code: number; ms: number }> {
  const r = await send(ip, n);
  return { code: r.rcpts[0]?.code ?? 0, ms: r.rcpts[0]?.elapsedMs ?? -1 };
}

test('clock stepped back 1 h, then forward 1 day: scores finite and non-negative, the flooder held, delays as set, scores expired', async () => {
  // On the true clock: the flooder over the tempfail threshold (21 recipients, 5 at once so that
  // the delays from 11 to 20 overlap).
  await Promise.all(Array.from({ length: 5 }, async (_, lane) => {
    for (let n = lane; n < 25; n += 5) await send(FLOODER, n);
  }));
  expect((await rcptOutcome(FLOODER, 100)).code).toBe(451);
  const before = (await allScores()).get(`ip:${FLOODER}`)!;
  expect(before).toBeGreaterThan(20);

  // An hour back: the flooder's last update is now an hour "in the future". Its score must neither
  // decay (negative elapsed time) nor grow (2^(+6) for six half-lives backwards), nor the flooder pass.
  await stepClock('-1h', -HOUR);
  const back = await rcptOutcome(FLOODER, 101);
  expect(back.code).toBe(451);
  const held = (await allScores()).get(`ip:${FLOODER}`)!;
  expect(held).toBeGreaterThanOrEqual(before - 0.5);
  expect(held).toBeLessThan(before + 1);
  // Delays last what the rules say on a clock that went back: recipients 11 to 15 of a fresh client wait 500 ms.
  const fresh: Array<{ code: number; ms: number }> = [];
  for (let n = 0; n < 15; n++) fresh.push(await rcptOutcome(DELAYED, 200 + n));
  expect(fresh.map((r) => r.code)).toEqual(Array(15).fill(250));
  for (const r of fresh.slice(0, 10)) expect(r.ms).toBeLessThan(400);
  // The tarpit is a timer on the monotonic clock: 500 ms, not an hour, whatever the wall clock says.
  for (const r of fresh.slice(10)) expect(r.ms).toBeGreaterThanOrEqual(450);
  for (const r of fresh.slice(10)) expect(r.ms).toBeLessThan(5000);

  // A day forward: 144 half-lives. Every score decays to nothing: the flooder is let through, and
  // the sweeper removes the expired records.
  const sweptBefore = floodgate.log().split('"message":"expired scores swept"').length;
  await stepClock('+1d', DAY);
  // The flooder's and the delayed client's records expired a day ago by the new clock: the next sweep removes them.
  await waitFor(() => floodgate.log().split('"message":"expired scores swept"').length > sweptBefore, 10_000, 'a sweep after the step forward');
  expect((await rcptOutcome(FLOODER, 102)).code).toBe(250);
  expect((await rcptOutcome(DELAYED, 300)).ms).toBeLessThan(400);
  const after = await allScores();
  // Left: what was counted since the step, one point each (allScores checked every score finite and non-negative).
  expect(after.get(`ip:${FLOODER}`)).toBeCloseTo(1, 1);
  expect(after.get(`ip:${DELAYED}`)).toBeCloseTo(1, 1);

  await load.stop();
  for (const outcome of Object.keys(tally(load.messages))) expect(outcome).toBe('250@endOfData');
  await waitFor(() => acceptedButMissing(load.messages, sink.messages).length === 0, 30_000, 'every accepted message at the sink');
  const swept = [...floodgate.log().matchAll(/"message":"expired scores swept","records":(\d+),"removed":(\d+)/g)];
  process.stdout.write(`fault-clock-step: flooder ${before.toFixed(2)} points, ${held.toFixed(2)} an hour back (held, 451), ${after.get(`ip:${FLOODER}`)?.toFixed(2)} a day forward (250); delays ${fresh.slice(10).map((r) => r.ms).join('/')} ms an hour back; sweeps after the step removed ${swept.map((m) => m[2]).join(',')}\n`);
  expect(floodgate.log()).not.toMatch(/"level":"(error|warn)"/);
});
