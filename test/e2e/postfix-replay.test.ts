// `floodgate replay` against the real thing: a real Postfix with Floodgate live (shipped rules) takes
// normal mail from two clients and a flood from a third (XCLIENT); replaying that Postfix's own log
// through the same rules must give each recipient the answer Floodgate gave live (read from
// Floodgate's answer log), and replaying the tracking log through stricter rules must list the changes.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRuleSet } from '../../src/rules/loader';
import { replayMailLogs } from '../../src/replay/replay';
import type { ReplayReport } from '../../src/replay/replay-report';
import type { RecipientOutcome } from '../../src/replay/session-runner';
import type { TrackingReplayReport } from '../../src/replay/tracking-replay';
import { launchChromium } from '../support/browser';
import { floodgateCli, type FloodgateProcess } from '../support/floodgate-process';
import type { PostfixRig } from '../support/postfix-rig';
import { sendMail } from '../support/smtp-client';
import type { SmtpSink } from '../support/smtp-sink';
import { startFloodgateBehindPostfix, stopFloodgateBehindPostfix, type FloodgateBehindPostfix } from '../support/floodgate-behind-postfix';

jest.setTimeout(120_000);

const SHIPPED = join(__dirname, '..', '..', 'rules', 'default.yml');
const dir = mkdtempSync(join(tmpdir(), 'fg-replay-'));
const config = join(dir, 'floodgate.yml');
const FLOODER = '192.0.2.70';
const CLEAN = ['192.0.2.71', '192.0.2.72'];
/** Client-chosen text that must stay text in the HTML report. */
const HOSTILE_SENDER = '"<img src=x onerror=alert(1)><script>alert(2)</script>"@example.org';
let sink: SmtpSink;
let postfix: PostfixRig;
let floodgate: FloodgateProcess;
let delivered = 0;

let rig: FloodgateBehindPostfix;

beforeAll(async () => {
  // The shipped rules (no `rules:`), tarpits cut to 50 ms; tracking on (SQLite under state_dir).
  rig = await startFloodgateBehindPostfix(dir, 'limits: { max_delay: 50ms }\nhttp: { listen: "off" }\n');
  ({ sink, postfix, floodgate } = rig);
  for (const [i, ip] of CLEAN.entries()) {
    for (let n = 0; n < 3; n++) {
      // The last recipient is outside relay_domains: Postfix refuses it itself (rejected_by_mta).
      const rcpts = [`a${n}@example.com`, `b${n}@example.net`, ...(n === 2 ? [`c${n}@elsewhere.invalid`] : [])];
      const result = await sendMail(postfix.smtpPort, { helo: `mail${i}.example.org`, xclient: `ADDR=${ip} NAME=mail${i}.example.org`, from: `sender${n}@client${i}.example.org`, rcpts });
      expect(result.accepted).toBe(true);
      delivered += 2;
    }
  }
  for (let n = 1; n <= 64; n++) {
    const from = n === 64 ? HOSTILE_SENDER : `user${n}@example.org`;
    const result = await sendMail(postfix.smtpPort, { helo: 'pc.customer.example', xclient: `ADDR=${FLOODER} NAME=[UNAVAILABLE]`, from, rcpts: [`friend${n}@example.com`] });
    if (result.accepted) delivered += 1;
  }
  expect(delivered).toBe(12 + 60);
  // Every delivery line in the log before it is read: replay waits for a message's recipients.
  await sink.waitForMessages(6 + 60);
  await postfix.waitForLog(/status=sent/);
  await new Promise((r) => setTimeout(r, 1500));
});

afterAll(() => stopFloodgateBehindPostfix(rig, dir));

/** `client|sender|recipient`, the recipient's identity in both logs. */
const id = (client: string | undefined, sender: string | undefined, recipient: string | undefined) => `${client}|${sender}|${recipient}`;

/** Floodgate's live answers at RCPT, from its JSON answer lines; a recipient with none was accepted. */
function liveAnswers(): Map<string, string> {
  const answers = new Map<string, string>();
  for (const line of floodgate.log().split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { message?: string; event?: string; answer?: string; client?: string; from?: string; to?: string };
    if (entry.message !== 'answer' || entry.event !== 'rcpt') continue;
    answers.set(id(entry.client, entry.from, entry.to), entry.answer === 'delay' ? 'delayed' : entry.answer!);
  }
  return answers;
}

test('replaying the Postfix log with the same rules gives every recipient its live answer', async () => {
  const replayed: RecipientOutcome[] = [];
  const report = await replayMailLogs({ files: [postfix.logFile], ruleSet: loadRuleSet(SHIPPED), onSession: (_session, outcomes) => replayed.push(...outcomes) });
  const live = liveAnswers();
  const differences: string[] = [];
  for (const o of replayed) {
    // Explained difference 1: the recipient Postfix refused itself (relay access denied) is
    // `rejected_by_mta` in the replay; live, Floodgate gave no answer line for it.
    if (o.answer === 'rejected_by_mta') {
      expect(o.recipient).toMatch(/@elsewhere\.invalid$/);
      expect(live.has(id(o.clientIp, o.sender, o.recipient))).toBe(false);
      continue;
    }
    const liveAnswer = live.get(id(o.clientIp, o.sender, o.recipient)) ?? 'accepted';
    if (liveAnswer !== o.answer) differences.push(`${id(o.clientIp, o.sender, o.recipient)}: live ${liveAnswer}, replay ${o.answer}`);
  }
  expect(differences).toEqual([]);
  // Every recipient sent was replayed: 6 messages of the clean clients (14 recipients, 2 refused by
  // Postfix) and 64 of the flooder. Explained difference 2: before each XCLIENT the test client
  // connected as 127.0.0.1, which live Floodgate allowed (trusted-networks) in a milter session of
  // its own; Postfix logs that connection as the same smtpd session, so the replay has one session
  // per message, under the XCLIENT address.
  expect(replayed.filter((o) => o.recipient !== undefined)).toHaveLength(14 + 64);
  expect(report.answers).toEqual({ accepted: 12 + 40, delayed: 20, tempfail: 4, reject: 0, discard: 0, rejected_by_mta: 2 });
  expect(report.clients.map((c) => [c.key, c.counts.delayed, c.counts.tempfail])).toEqual([[FLOODER, 20, 4]]);
  expect(report.rules).toEqual([{ rule: 'recipients', counts: expect.objectContaining({ delayed: 20, tempfail: 4 }) }]);
  expect(report.input.skipped).toEqual({});
});

test('the CLI prints the report as JSON and writes an HTML page that shows hostile text as text', async () => {
  const html = join(dir, 'replay.html');
  const result = await floodgateCli('replay', '--maillog', postfix.logFile, '--json', '--html', html, '--config', config);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const report = JSON.parse(result.stdout) as ReplayReport;
  expect(report.answers.tempfail).toBe(4);
  expect(report.peakMinute).toBeDefined();
  expect(report.senders.map((s) => s.key)).toContain(HOSTILE_SENDER);
  const text = await floodgateCli('replay', '--maillog', postfix.logFile, '--config', config);
  expect(text.stdout).toMatch(new RegExp(`^  ${FLOODER.replace(/\./g, '\\.')} +\\S+Z +\\S+Z +20 +4 +0 +0 +`, 'm'));
  expect(readFileSync(html, 'utf8')).not.toContain('<script>');

  const chromium = await launchChromium();
  try {
    const page = await chromium.browser.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => void (dialogs.push(d.message()), d.dismiss()));
    const requests: string[] = [];
    page.on('request', (r) => void requests.push(r.url()));
    await page.goto(`file://${html}`);
    expect(await page.locator('#clients tbody tr').first().locator('td').first().textContent()).toBe(FLOODER);
    const senders = await page.locator('#senders tbody td.key').allTextContents();
    expect(senders).toContain(HOSTILE_SENDER);
    expect(await page.locator('script').count()).toBe(0);
    expect(await page.locator('img').count()).toBe(0);
    // The timeline: a bar per answer and minute; tempfail bars exist.
    expect(await page.locator('#timeline rect.tempfail').count()).toBeGreaterThan(0);
    expect(await page.locator('#answers td').allTextContents()).toEqual(['52', '20', '4', '0', '0', '2']);
    expect({ dialogs, requests: requests.filter((u) => !u.startsWith('file:')) }).toEqual({ dialogs: [], requests: [] });
  } finally {
    await chromium.close();
  }
});

test('replay --tracking compares new rules with what Floodgate answered', async () => {
  // Floodgate writes tracking records in batches: wait for the flooder's last one.
  const deadline = Date.now() + 10_000;
  let tracked = '';
  while (Date.now() < deadline && !(tracked.match(/tempfail@rcpt/g)?.length === 4)) {
    tracked = (await floodgateCli('track', '--ip', FLOODER, '--answer', 'tempfail', '--config', config)).stdout;
    await new Promise((r) => setTimeout(r, 200));
  }
  const same = await floodgateCli('replay', '--tracking', '--since', '1h', '--json', '--config', config);
  expect(same.code).toBe(0);
  // The same rules change nothing (the tracking record has no rejected_by_mta: the two refused
  // recipients score 1 point instead of 4 for their clean clients, far from any threshold).
  expect((JSON.parse(same.stdout) as TrackingReplayReport).changes).toEqual([]);
  const stricter = join(dir, 'stricter.yml');
  writeFileSync(stricter, readFileSync(SHIPPED, 'utf8').replace('- above: 60\n      tempfail', '- above: 30\n      tempfail'));
  const result = await floodgateCli('replay', '--tracking', '--since', '1h', '--rules', stricter, '--config', config);
  expect(result.code).toBe(0);
  // Recipients 31..40 were accepted and 41..60 delayed: now all tempfailed.
  expect(result.stdout).toMatch(/^  accepted -> tempfail: 10$/m);
  expect(result.stdout).toMatch(/^  delayed -> tempfail: 20$/m);
  expect(result.stdout).toMatch(/record \d+ \S+Z 192\.0\.2\.70 "user31@example\.org" -> "friend31@example\.com"/);
});
