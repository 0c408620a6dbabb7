// Fault (issue 19): Floodgate SIGKILLed in the middle of a flood through a real Postfix, then restarted.
// Postfix must apply milter_default_action (tempfail) while it is gone, every message Postfix accepted
// must reach the next hop, and the scores on disk may miss only the write-behind window's updates.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { floodgateCli, startFloodgateProcess, type FloodgateProcess } from '../support/floodgate-process';
import { acceptedButMissing, startMailLoad, tally, type LoadMessage, onePointPerRecipient } from '../support/mail-load';
import type { PostfixRig } from '../support/postfix-rig';
import { waitFor } from '../support/processes';
import type { SmtpSink } from '../support/smtp-sink';
import { startFloodgateBehindPostfix, stopFloodgateBehindPostfix, type FloodgateBehindPostfix } from '../support/floodgate-behind-postfix';

jest.setTimeout(90_000);

const dir = mkdtempSync(join(tmpdir(), 'fg-fault-kill-'));
const FLOODERS = ['192.0.2.101', '192.0.2.102'];
const NORMAL = '192.0.2.110';
/** The write-behind interval (src/store/level-store.ts WRITE_BEHIND.flushIntervalMs), as the README documents it. */
const FLUSH_INTERVAL_MS = 5;

// One point per recipient on the ip key, a day's half-life (under a minute of test it decays by
// less than 0.05 %) and no threshold in reach: every RCPT Floodgate answered adds exactly one point,
// so the score on disk after the kill counts the answers that were written.
const RULES = onePointPerRecipient(1_000_000, 'unreachable in this test');

let sink: SmtpSink;
let postfix: PostfixRig;
let floodgate: FloodgateProcess;
let configFile: string;

let rig: FloodgateBehindPostfix;

beforeAll(async () => {
  writeFileSync(join(dir, 'rules.yml'), RULES);
  rig = await startFloodgateBehindPostfix(dir, 'rules: rules.yml\nhttp: { listen: "off" }\ntracking: { backend: "off" }\n');
  ({ sink, postfix, floodgate, configFile } = rig);
});

afterAll(() => stopFloodgateBehindPostfix(rig, dir));

async function scoreOnDisk(ip: string): Promise<number> {
  const shown = await floodgateCli('scores', 'show', `ip:${ip}`, '--config', configFile);
  if (shown.code !== 0) throw new Error(`floodgate scores show failed (${shown.code}): ${shown.stdout}${shown.stderr}`);
  const m = new RegExp(`ip:${ip.replace(/\./g, '\\.')}\\s+(\\d+\\.\\d+)`).exec(shown.stdout);
  return m ? Number(m[1]) : 0;
}

test('SIGKILL mid-flood: Postfix tempfails meanwhile, no accepted message is lost, scores lose at most the write-behind window', async () => {
  // Two flooders with four sessions each and one slow normal client: about 8 sessions at once keep
  // Postfix and Floodgate busy on two cores; 3 s of it gives a few hundred answers before the kill,
  // enough for the write-behind to have run hundreds of batches.
  const load = startMailLoad(postfix.smtpPort, [
    ...FLOODERS.map((ip) => ({ ip, concurrency: 4 })),
    { ip: NORMAL, concurrency: 1, pauseMs: 100 },
  ], 'kill');
  await waitFor(() => load.messages.filter((m) => m.accepted).length >= 100, 30_000, () => `100 accepted messages before the kill: ${JSON.stringify(tally(load.messages))}`);
  await new Promise((r) => setTimeout(r, 1000));

  const killedAt = Date.now();
  floodgate.process.child.kill('SIGKILL');
  const exit = await floodgate.process.exited;
  expect(exit.signal).toBe('SIGKILL');
  // RCPTs answered 250 before the kill: Floodgate counted each before answering it.
  const answeredBeforeKill = (ip: string): LoadMessage[] =>
    load.messages.filter((m) => m.ip === ip && m.rcptCode === 250 && m.rcptAt !== undefined && m.rcptAt <= killedAt);

  // While Floodgate is down Postfix cannot reach the milter: new sessions get milter_default_action.
  const downFrom = load.messages.length;
  await waitFor(() => load.messages.slice(downFrom).filter((m) => m.finalCode !== undefined && m.finalCode >= 400).length >= 5, 20_000,
    () => `tempfails while Floodgate is down: ${JSON.stringify(tally(load.messages.slice(downFrom)))}`);
  const whileDown = load.messages.slice(downFrom).filter((m) => m.finalCode !== undefined);

  // The scores the killed process left on disk, read before the restart adds new ones.
  const onDisk = new Map<string, number>();
  for (const ip of [...FLOODERS, NORMAL]) onDisk.set(ip, await scoreOnDisk(ip));

  floodgate = await startFloodgateProcess(configFile);
  const restartedAt = Date.now();
  await waitFor(() => load.messages.some((m) => m.startedAt > restartedAt && m.accepted), 20_000, 'an accepted message after the restart');
  await new Promise((r) => setTimeout(r, 1000));
  await load.stop();

  // What the MTA saw: accepted, or a temporary failure; never a permanent refusal, never a hang.
  const outcomes = tally(load.messages);
  for (const outcome of Object.keys(outcomes)) expect(outcome).toMatch(/^(250@endOfData|4\d\d@\w+)$/);
  expect(whileDown.every((m) => !m.accepted || m.startedAt < killedAt)).toBe(true);
  expect(postfix.log()).toMatch(/warning: connect to Milter service inet:127\.0\.0\.1:\d+: Connection refused/);
  const refusedWhileDown = whileDown.filter((m) => !m.accepted);
  expect(refusedWhileDown.length).toBeGreaterThanOrEqual(5);
  for (const m of refusedWhileDown) expect(`${m.finalCode} ${m.finalText}`).toMatch(/^451 4\.7\.1 Service unavailable - try again later$/);

  // Every message Postfix answered 250 reaches the sink.
  const accepted = load.messages.filter((m) => m.accepted);
  await waitFor(() => acceptedButMissing(load.messages, sink.messages).length === 0, 30_000,
    () => `accepted messages at the sink: missing ${acceptedButMissing(load.messages, sink.messages).slice(0, 10).join(', ')}`);

  // Scores: what was answered before the kill minus what the disk kept is what the kill lost. The
  // lost updates are the last ones answered; the time they span is the window actually lost.
  let lostPoints = 0;
  let lostWindowMs = 0;
  for (const ip of FLOODERS) {
    const answered = answeredBeforeKill(ip).sort((a, b) => a.rcptAt! - b.rcptAt!);
    const kept = Math.round(onDisk.get(ip)!);
    // A RCPT the old process answered may reach this client only after killedAt: the upper bound counts
    // every 250 of a session begun before the kill (after it, Postfix answers the session 451 itself).
    const answeredByOldProcess = load.messages.filter((m) => m.ip === ip && m.rcptCode === 250 && m.startedAt < killedAt).length;
    expect(kept).toBeLessThanOrEqual(answeredByOldProcess);
    const lost = Math.max(0, answered.length - kept);
    lostPoints += lost;
    if (lost > 0) lostWindowMs = Math.max(lostWindowMs, killedAt - answered[answered.length - lost].rcptAt!);
  }
  const answeredPoints = FLOODERS.reduce((n, ip) => n + answeredBeforeKill(ip).length, 0);
  // The RCPT reply reaches this client after Postfix relayed Floodgate's answer, so the measured
  // window includes Postfix's turnaround; the bound is the flush interval plus one LevelDB batch
  // write on a loaded 2-core machine, a full second of margin that still fails a write-behind that
  // stopped flushing (it would lose every answer since the start, thousands of milliseconds).
  process.stdout.write(`fault-kill: ${answeredPoints} points answered before SIGKILL, ${lostPoints} lost (window ${lostWindowMs} ms, flush interval ${FLUSH_INTERVAL_MS} ms); ${accepted.length} accepted messages, all delivered; outcomes ${JSON.stringify(outcomes)}\n`);
  expect(answeredPoints).toBeGreaterThan(100);
  expect(lostWindowMs).toBeLessThan(1000);
  // The normal client's score is on disk too (the process lost at most its last answer).
  expect(onDisk.get(NORMAL)!).toBeGreaterThanOrEqual(answeredBeforeKill(NORMAL).length - 1);
});
