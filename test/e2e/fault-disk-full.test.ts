// Fault (issue 19): the filesystem under the LevelDB directory fills up while mail flows through a real
// Postfix (an 8 MiB tmpfs the test mounts, as root, and fills with a file). on_store_error must apply,
// be logged once, and writing must resume once the file is removed, with no score lost: the ones
// answered before the disk filled, and after it was freed, are all on disk after a restart.
import { closeSync, mkdirSync, mkdtempSync, openSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { floodgateCli, startFloodgateProcess, type FloodgateProcess } from '../support/floodgate-process';
import { acceptedButMissing, startMailLoad, tally, onePointPerRecipient } from '../support/mail-load';
import type { PostfixRig } from '../support/postfix-rig';
import { killAllTracked, runCommand, waitFor } from '../support/processes';
import type { SmtpSink } from '../support/smtp-sink';
import { startFloodgateBehindPostfix, stopFloodgateBehindPostfix, type FloodgateBehindPostfix } from '../support/floodgate-behind-postfix';

jest.setTimeout(90_000);

const dir = mkdtempSync(join(tmpdir(), 'fg-fault-full-'));
const state = join(dir, 'state');
const filler = join(state, 'filler');
const CLIENTS = ['192.0.2.131', '192.0.2.132'];
const FAILED = '"message":"score store failed, applying on_store_error"';
const AGAIN = '"message":"score store answers again"';
const RULES = onePointPerRecipient(1_000_000, 'unreachable in this test');

let sink: SmtpSink;
let postfix: PostfixRig;
let floodgate: FloodgateProcess;
let configFile: string;
let mounted = false;

let rig: FloodgateBehindPostfix;

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the disk-full test mounts a tmpfs: run it as root (CI does)');
  mkdirSync(state);
  const mount = await runCommand('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0755', 'tmpfs', state]);
  if (mount.code !== 0) throw new Error(`mount -t tmpfs failed (${mount.code}): ${mount.stderr}`);
  mounted = true;
  writeFileSync(join(dir, 'rules.yml'), RULES);
  rig = await startFloodgateBehindPostfix(dir, 'rules: rules.yml\non_store_error: tempfail\nhttp: { listen: "off" }\ntracking: { backend: "off" }\n');
  ({ sink, postfix, floodgate, configFile } = rig);
});

afterAll(async () => {
  await rig?.postfix.stop();
  await killAllTracked();
  await rig?.sink.close();
  // Unmounted before the directory it is mounted on is removed.
  if (mounted) await runCommand('umount', [state]);
  await stopFloodgateBehindPostfix(undefined, dir);
});

/** Writes 64 KiB blocks until the filesystem refuses one. */
function fillDisk(): number {
  const fd = openSync(filler, 'w');
  const block = Buffer.alloc(65_536, 1);
  let written = 0;
  try {
    for (;;) written += writeSync(fd, block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  return written;
}

const count = (text: string, needle: string): number => text.split(needle).length - 1;

test('disk full: on_store_error (tempfail) applies, logged once; writing resumes when space is freed; no score lost', async () => {
  const load = startMailLoad(postfix.smtpPort, CLIENTS.map((ip) => ({ ip, concurrency: 2, pauseMs: 20 })), 'full');
  await waitFor(() => load.messages.filter((m) => m.accepted).length >= 30, 30_000, () => `30 accepted messages: ${JSON.stringify(tally(load.messages))}`);

  const filledAt = Date.now();
  const filled = fillDisk();
  // Every session from now on: the RCPT is answered by on_store_error, 451 from Floodgate itself
  // (at RCPT, where the rules run; a Floodgate that is down would make Postfix refuse at MAIL).
  const sinceFull = () => load.messages.filter((m) => m.startedAt > filledAt + 200);
  await waitFor(() => sinceFull().filter((m) => m.rcptCode === 451).length >= 20, 30_000, () => `451 at RCPT while the disk is full: ${JSON.stringify(tally(sinceFull()))}`);
  expect(sinceFull().filter((m) => m.rcptCode === 250 && m.startedAt > filledAt + 2000)).toEqual([]);
  const failuresWhileFull = sinceFull().filter((m) => m.rcptCode === 451).length;
  expect(count(floodgate.log(), FAILED)).toBe(1);
  expect(floodgate.log()).toMatch(/"code":"FG_ERR_STORE_UNAVAILABLE","conn":"[^"]+","error":"score store: writing scores to LevelDB failed: IO error: [^"]*: No space left on device"/);

  unlinkSync(filler);
  const freedAt = Date.now();
  // The kept batch is retried every second; then RCPTs count again.
  await waitFor(() => load.messages.filter((m) => m.startedAt > freedAt && m.accepted).length >= 30, 30_000,
    () => `30 accepted messages after the space was freed: ${JSON.stringify(tally(load.messages.filter((m) => m.startedAt > freedAt)))}`);
  await load.stop();
  expect(count(floodgate.log(), FAILED)).toBe(1);
  expect(count(floodgate.log(), AGAIN)).toBe(1);
  await waitFor(() => acceptedButMissing(load.messages, sink.messages).length === 0, 30_000, 'every accepted message at the sink');
  for (const outcome of Object.keys(tally(load.messages))) expect(outcome).toMatch(/^(250@endOfData|451@rcpt)$/);

  // A restart replays LevelDB's log: every RCPT answered 250 (before the disk filled, and after it was
  // freed; none was answered while it was full) must be in the scores. The failed write left a torn
  // record in that log; without the fresh log started after recovery, this replay lost them all.
  await floodgate.stop();
  floodgate = await startFloodgateProcess(configFile);
  expect(floodgate.log()).not.toContain('skipped damaged records');
  const lines: string[] = [];
  for (const ip of CLIENTS) {
    const answered = load.messages.filter((m) => m.ip === ip && m.rcptCode === 250).length;
    const shown = await floodgateCli('scores', 'show', `ip:${ip}`, '--config', configFile);
    const score = Number(new RegExp(`ip:${ip.replace(/\./g, '\\.')}\\s+(\\d+\\.\\d+)`).exec(shown.stdout)?.[1]);
    // A day's half-life over a minute of test: the decay is under 0.05 %, less than one point here.
    expect(Math.abs(score - answered)).toBeLessThan(1);
    lines.push(`${ip}: ${answered} answered, ${score} on disk`);
  }
  process.stdout.write(`fault-disk-full: ${filled} bytes filled the tmpfs; ${failuresWhileFull} RCPTs tempfailed while full; ${lines.join('; ')}; outcomes ${JSON.stringify(tally(load.messages))}\n`);
});
