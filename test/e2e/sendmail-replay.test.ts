// `floodgate replay` of a real Sendmail's log (Debian's default LogLevel 9, collected from its
// syslog socket by the rig) reproduces the answers Floodgate gave live. Sendmail has no XCLIENT:
// the clients are distinct addresses of 127.0.0.0/8, so the shipped rules' allow-list is narrowed
// to 127.0.0.1 (the same rules file runs live and in the replay).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRuleSet } from '../../src/rules/loader';
import { replayMailLogs } from '../../src/replay/replay';
import type { RecipientOutcome } from '../../src/replay/session-runner';
import { startFloodgateProcess, type FloodgateProcess } from '../support/floodgate-process';
import { freePort } from '../support/ports';
import { killAllTracked } from '../support/processes';
import { startSendmail, type SendmailRig } from '../support/sendmail-rig';
import { sendMail } from '../support/smtp-client';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink';

jest.setTimeout(120_000);

const dir = mkdtempSync(join(tmpdir(), 'fg-sm-replay-'));
const rulesFile = join(dir, 'rules.yml');
const FLOODER = '127.0.0.70';
const CLEAN = ['127.0.0.71', '127.0.0.72'];
let sink: SmtpSink;
let sendmail: SendmailRig;
let floodgate: FloodgateProcess;

beforeAll(async () => {
  sink = await startSmtpSink();
  const milterPort = await freePort();
  const shipped = readFileSync(join(__dirname, '..', '..', 'rules', 'default.yml'), 'utf8');
  const rules = shipped.replace('cidr: ["127.0.0.0/8", "::1/128"]', 'cidr: ["127.0.0.1/32", "::1/128"]');
  if (rules === shipped) throw new Error('the trusted list of rules/default.yml changed');
  writeFileSync(rulesFile, rules);
  const config = join(dir, 'floodgate.yml');
  writeFileSync(config, `listen: inet:127.0.0.1:${milterPort}\nrules: rules.yml\nstate_dir: state\nlimits: { max_delay: 50ms }\nhttp: { listen: "off" }\ntracking: { backend: "off" }\n`);
  floodgate = await startFloodgateProcess(config);
  sendmail = await startSendmail({ milter: `inet:${milterPort}@127.0.0.1`, relayPort: sink.port, logLevel: 9, extraMc: "FEATURE(`promiscuous_relay')dnl" });
});

afterAll(async () => {
  await sendmail?.stop();
  await killAllTracked();
  await sink?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('replaying the Sendmail log with the same rules gives every recipient its live answer', async () => {
  let accepted = 0;
  for (const [i, ip] of CLEAN.entries()) {
    for (let n = 0; n < 2; n++) {
      const result = await sendMail(sendmail.smtpPort, { localAddress: ip, helo: `mail${i}.example.org`, from: `sender${n}@client${i}.example.org`, rcpts: [`a${n}@example.com`, `b${n}@example.net`] });
      if (result.accepted) accepted += 1;
    }
  }
  for (let n = 1; n <= 64; n++) {
    const result = await sendMail(sendmail.smtpPort, { localAddress: FLOODER, helo: 'pc.customer.example', from: `user${n}@example.org`, rcpts: [`friend${n}@example.com`] });
    if (result.accepted) accepted += 1;
  }
  expect(accepted).toBe(4 + 60);
  await sink.waitForMessages(64, 30_000);
  // Delivery lines follow the deliveries: wait for the last one in the log.
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && (sendmail.log().match(/stat=Sent/g)?.length ?? 0) < 64) await new Promise((r) => setTimeout(r, 200));
  const logFile = join(dir, 'maillog');
  writeFileSync(logFile, `${sendmail.log().split('\n').filter((l) => !l.startsWith('---')).join('\n')}\n`);

  const live = new Map<string, string>();
  for (const line of floodgate.log().split('\n')) {
    if (!line.startsWith('{')) continue;
    const e = JSON.parse(line) as { message?: string; event?: string; answer?: string; client?: string; from?: string; to?: string };
    if (e.message === 'answer' && e.event === 'rcpt') live.set(`${e.client}|${e.from}|${e.to}`, e.answer === 'delay' ? 'delayed' : e.answer!);
  }
  const replayed: RecipientOutcome[] = [];
  const report = await replayMailLogs({ files: [logFile], ruleSet: loadRuleSet(rulesFile), onSession: (_s, outcomes) => replayed.push(...outcomes) });
  const differences = replayed
    .map((o) => ({ key: `${o.clientIp}|${o.sender}|${o.recipient}`, replay: o.answer }))
    .filter(({ key, replay }) => (live.get(key) ?? 'accepted') !== replay)
    .map(({ key, replay }) => `${key}: live ${live.get(key) ?? 'accepted'}, replay ${replay}`);
  expect(differences).toEqual([]);
  expect(replayed.filter((o) => o.recipient !== undefined)).toHaveLength(8 + 64);
  expect(report.answers).toMatchObject({ accepted: 8 + 40, delayed: 20, tempfail: 4 });
  expect(report.clients.map((c) => [c.key, c.counts.delayed, c.counts.tempfail])).toEqual([[FLOODER, 20, 4]]);
});
