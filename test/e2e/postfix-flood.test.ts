// A flood through real Postfix against the real `floodgate run` (shipped default rules, LevelDB on disk).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { floodgateCli, startFloodgateProcess, type FloodgateProcess } from '../support/floodgate-process';
import type { PostfixRig } from '../support/postfix-rig';
import { sendMail, type SendMailResult } from '../support/smtp-client';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink';
import { startFloodgateBehindPostfix, stopFloodgateBehindPostfix, type FloodgateBehindPostfix } from '../support/floodgate-behind-postfix';

jest.setTimeout(120_000);

const dir = mkdtempSync(join(tmpdir(), 'fg-flood-'));
const FLOODER = '192.0.2.50';
const BYSTANDER = '192.0.2.51';
const ALERT_FROM = 'floodgate-alerts@floodgate.test';

let sink: SmtpSink;
let postfix: PostfixRig;
let floodgate: FloodgateProcess;
let configFile: string;
let rulesFile: string;

/** The shipped rules, with one change: the tempfail threshold also mails the postmaster. */
function shippedRulesWithAlert(sinkPort: number): string {
  const shipped = readFileSync(join(__dirname, '..', '..', 'rules', 'default.yml'), 'utf8');
  const withMail = shipped.replace(/(tempfail: \{ code: "451", ext: "4\.7\.1", text: "Too much mail from your address[^\n]*\n\s+log: true)/, '$1\n      mail: true');
  if (withMail === shipped) throw new Error('could not find the ip tempfail threshold in rules/default.yml');
  return `${withMail}\nalert:\n  relay: 127.0.0.1:${sinkPort}\n  from: ${ALERT_FROM}\n  to: [postmaster@example.org]\n  cooldown: 1h\n`;
}

function send(ip: string, n: number): Promise<SendMailResult> {
  return sendMail(postfix.smtpPort, { helo: 'pc.customer.example', xclient: `ADDR=${ip} NAME=[UNAVAILABLE]`, from: `user${n}@example.org`, rcpts: [`friend${n}@example.com`] });
}

function rcptOutcome(r: SendMailResult): string {
  const rcpt = r.rcpts[0] ?? r.transcript.find((t) => t.stage === 'rcpt')?.reply;
  if (!rcpt) return `no rcpt (${r.failedAt})`;
  if (rcpt.code !== 250) return String(rcpt.code);
  return rcpt.elapsedMs >= 150 ? 'delayed' : 'accepted';
}

let rig: FloodgateBehindPostfix;

beforeAll(async () => {
  // The alert mails go to the same sink: its port is in the rules before Floodgate starts.
  sink = await startSmtpSink();
  rulesFile = join(dir, 'rules.yml');
  writeFileSync(rulesFile, shippedRulesWithAlert(sink.port));
  // max_delay cuts the shipped 2 s tarpit to 200 ms so that twenty delayed messages take seconds.
  rig = await startFloodgateBehindPostfix(dir, 'rules: rules.yml\nlimits: { max_delay: 200ms }\nhttp: { listen: "off" }\n', { sink });
  ({ postfix, floodgate, configFile } = rig);
});

afterAll(async () => {
  await stopFloodgateBehindPostfix(rig ?? { sink }, dir);
});

test('a flooding client is accepted, then delayed, then tempfailed while another client flows', async () => {
  const outcomes: string[] = [];
  for (let n = 1; n <= 65; n++) {
    outcomes.push(rcptOutcome(await send(FLOODER, n)));
    if (n % 20 === 0) expect(rcptOutcome(await send(BYSTANDER, 1000 + n))).toBe('accepted');
  }
  // Shipped thresholds: above 40 points delay, above 60 tempfail; one point per recipient.
  expect(outcomes.slice(0, 40)).toEqual(Array(40).fill('accepted'));
  expect(outcomes.slice(40, 60)).toEqual(Array(20).fill('delayed'));
  expect(outcomes.slice(60)).toEqual(Array(5).fill('451'));
  const refused = await send(FLOODER, 99);
  expect(refused.transcript.find((t) => t.stage === 'rcpt')?.reply.raw).toContain('451 4.7.1 Too much mail from your address');
  const delivered = await sink.waitForMessages(63);
  expect(delivered.filter((m) => m.from !== ALERT_FROM)).toHaveLength(63); // 60 from the flooder + 3 bystanders
});

test('one alert mail reaches the postmaster, not one per refused message', async () => {
  const deadline = Date.now() + 10_000;
  while (!sink.messages.some((m) => m.from === ALERT_FROM) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const alerts = sink.messages.filter((m) => m.from === ALERT_FROM);
  expect(alerts).toHaveLength(1);
  expect(alerts[0].rcpts).toEqual(['postmaster@example.org']);
  expect(alerts[0].data).toContain(`ip:${FLOODER}`);
});

test('the score survives a restart of Floodgate (LevelDB on disk)', async () => {
  await floodgate.stop();
  floodgate = await startFloodgateProcess(configFile);
  expect(rcptOutcome(await send(FLOODER, 200))).toBe('451');
  const shown = await floodgateCli('scores', 'show', `ip:${FLOODER}`, '--config', configFile);
  expect(shown.code).toBe(0);
  expect(shown.stdout).toMatch(new RegExp(`ip:${FLOODER.replace(/\./g, '\\.')}\\s+6[01]\\.\\d\\d`));
  const top = await floodgateCli('scores', 'top', '--class', 'ip', '-n', '5', '--config', configFile);
  expect(top.stdout.split('\n')[1]).toContain(`ip:${FLOODER}`);
});

test('scores reset lets the client through at once', async () => {
  const reset = await floodgateCli('scores', 'reset', `ip:${FLOODER}`, '--config', configFile);
  expect(reset).toMatchObject({ code: 0, stdout: `reset ip:${FLOODER}\n` });
  expect(rcptOutcome(await send(FLOODER, 300))).toBe('accepted');
  expect(floodgate.log()).toContain('"message":"score reset"');
});

test('after the window the client is accepted again (rules and limits reloaded on SIGHUP)', async () => {
  // A 3 s half-life and no tarpit, so that the window passes within the test.
  writeFileSync(rulesFile, readFileSync(rulesFile, 'utf8').replace(/ip:\s+\{ half_life: 10m \}/, 'ip:        { half_life: 3s }'));
  writeFileSync(configFile, readFileSync(configFile, 'utf8').replace('max_delay: 200ms', 'max_delay: 1ms'));
  floodgate.process.child.kill('SIGHUP');
  const deadline = Date.now() + 5000;
  while (!floodgate.log().includes('configuration reloaded') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(floodgate.log()).toContain('configuration reloaded');
  const ip = '192.0.2.60';
  const outcomes: string[] = [];
  for (let n = 0; n < 200 && outcomes[outcomes.length - 1] !== '451'; n++) outcomes.push(rcptOutcome(await send(ip, 400 + n)));
  expect(outcomes[outcomes.length - 1]).toBe('451');
  expect(outcomes.length).toBeGreaterThanOrEqual(61);
  await new Promise((r) => setTimeout(r, 5000)); // about 61 points, halved 5/3 times: under 20
  expect(rcptOutcome(await send(ip, 700))).toBe('accepted');
});
