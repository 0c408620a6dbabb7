// The content stage through a real Sendmail: the same rules as the Postfix test (example content
// rules plus a discard and a quarantine rule), every answer checked where it lands.
import { readdirSync, readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compose, EXTRA_CONTENT_RULES, exampleContentRules, nestedVbsMessage } from '../support/content-messages';
import { startFloodgateProcess } from '../support/floodgate-process';
import { freePort } from '../support/ports';
import { killAllTracked } from '../support/processes';
import { startSendmail, type SendmailRig } from '../support/sendmail-rig';
import { sendMail } from '../support/smtp-client';
import { startSmtpSink, type ReceivedMessage, type SmtpSink } from '../support/smtp-sink';

jest.setTimeout(120_000);

const dir = mkdtempSync(join(tmpdir(), 'fg-content-sm-'));
let sink: SmtpSink;
let sendmail: SendmailRig;

beforeAll(async () => {
  sink = await startSmtpSink();
  const milterPort = await freePort();
  writeFileSync(join(dir, 'content.yml'), exampleContentRules(EXTRA_CONTENT_RULES));
  writeFileSync(join(dir, 'floodgate.yml'), `listen: inet:127.0.0.1:${milterPort}\nstate_dir: state\nrules: content.yml\nhttp: { listen: "off" }\ntracking: { backend: "off" }\n`);
  await startFloodgateProcess(join(dir, 'floodgate.yml'));
  sendmail = await startSendmail({ milter: `inet:${milterPort}@127.0.0.1`, relayPort: sink.port });
});

afterAll(async () => {
  await sendmail?.stop();
  await killAllTracked();
  await sink?.close();
  rmSync(dir, { recursive: true, force: true });
});

const send = (body: string, rcpts = ['bob@example.com', 'carol@example.net']) => sendMail(sendmail.smtpPort, { helo: 'mail.sender.example', from: 'alice@sender.example', rcpts, body });

async function delivered(subject: string): Promise<ReceivedMessage> {
  for (let i = 0; i < 150; i++) {
    const found = sink.messages.find((m) => m.headers.some((h) => h.name === 'Subject' && h.value.includes(subject)));
    if (found) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no message with subject ${subject} reached the sink\n${sendmail.log().slice(-3000)}`);
}

const header = (m: ReceivedMessage, name: string) => m.headers.filter((h) => h.name.toLowerCase() === name.toLowerCase()).map((h) => h.value);

test('two phrases: prefixed and marked; three: to the spambox only', async () => {
  expect((await send(await compose({ from: 'alice@sender.example', to: 'bob@example.com', subject: 'casino bonus s1', text: 'viagra' }))).accepted).toBe(true);
  const marked = await delivered('casino bonus s1');
  expect(header(marked, 'Subject')).toEqual(['[SPAM] casino bonus s1']);
  expect(header(marked, 'X-Floodgate-Spam')).toEqual(['yes']);
  expect(marked.rcpts.sort()).toEqual(['bob@example.com', 'carol@example.net']);

  expect((await send(await compose({ from: 'alice@sender.example', to: 'bob@example.com', subject: 'casino bonus s2', text: 'viagra\nLottery Winner' }))).accepted).toBe(true);
  const redirected = await delivered('casino bonus s2');
  expect(redirected.rcpts).toEqual(['spambox@example.com']);
  expect(header(redirected, 'X-Floodgate-Original-Recipients')).toEqual(['bob@example.com, carol@example.net']);
});

test('a .vbs attachment, plain, RFC 2231-encoded or inside an attached message, is refused naming the file', async () => {
  const plain = await compose({ from: 'alice@sender.example', to: 'bob@example.com', subject: 'invoice', text: 'x', attachments: [{ filename: 'invoice.pdf.vbs', content: 'x' }] });
  const encoded = await compose({ from: 'alice@sender.example', to: 'bob@example.com', subject: 'Rechnung', text: 'x', attachments: [{ filename: 'Rechnung-März.vbs', content: 'x' }] });
  const nested = await nestedVbsMessage('alice@sender.example', 'bob@example.com');
  for (const [body, name] of [[plain, 'invoice.pdf.vbs'], [encoded, 'Rechnung-M?rz.vbs'], [nested, 'Rechnung-M?rz.vbs']] as const) {
    const result = await send(body);
    expect(result.failedAt).toBe('endOfData');
    expect(result.endOfData?.raw.trim()).toBe(`554 5.7.1 Attachment ${name} is not accepted here`);
  }
});

test('discard: 250 to the client, nothing delivered', async () => {
  const before = sink.messages.length;
  const result = await send(await compose({ from: 'alice@sender.example', to: 'bob@example.com', subject: 'gone', text: 'please-discard-this' }));
  expect(result.accepted).toBe(true);
  await new Promise((r) => setTimeout(r, 1500));
  expect(sink.messages.length).toBe(before);
});

test('quarantine: the message is kept in Sendmail\'s queue as quarantined, with the reason', async () => {
  const result = await send(await compose({ from: 'alice@sender.example', to: 'bob@example.com', subject: 'held s3', text: 'please-hold-this' }));
  expect(result.accepted).toBe(true);
  const queueDir = join(sendmail.dir, 'queue');
  let held: string | undefined;
  for (let i = 0; i < 50 && held === undefined; i++) {
    // Sendmail renames a quarantined message's control file from qf* to hf*; its q line holds the reason.
    held = readdirSync(queueDir).find((f) => f.startsWith('hf'));
    if (held === undefined) await new Promise((r) => setTimeout(r, 100));
  }
  expect(held).toBeDefined();
  expect(readFileSync(join(queueDir, held!), 'latin1')).toMatch(/^qheld by floodgate test$/m);
});
