// The content stage through a real Postfix: rules/examples/content.yml (and a discard and a
// quarantine rule) in the built service; every answer checked where it lands: the capturing sink,
// the client's reply, Postfix's hold queue. Tracking copies (`track:`) by sender and by a rule that
// fired land as .eml files. With no content rule, the body is negotiated away.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Proto } from '../../src/milter/constants';
import { compose, EXTRA_CONTENT_RULES, exampleContentRules, nestedVbsMessage } from '../support/content-messages';
import { startFloodgateProcess } from '../support/floodgate-process';
import { MtaClient } from '../support/mta-client';
import { freePort } from '../support/ports';
import type { PostfixRig } from '../support/postfix-rig';
import { waitFor } from '../support/processes';
import { sendMail } from '../support/smtp-client';
import type { ReceivedMessage, SmtpSink } from '../support/smtp-sink';
import { startFloodgateBehindPostfix, stopFloodgateBehindPostfix, type FloodgateBehindPostfix } from '../support/floodgate-behind-postfix';

jest.setTimeout(120_000);

const dir = mkdtempSync(join(tmpdir(), 'fg-content-pf-'));
const CLIENT = '198.51.100.30';
const EXEMPT = '192.0.2.30';
const TRACK = `track:
  - name: customer-sender
    when: { sender_domain: { in: [customer.example] } }
  - name: refused-attachments
    rules: [executable-attachment]
`;
const COPIES = join(dir, 'state', 'copies');
let rig: FloodgateBehindPostfix;
let sink: SmtpSink;
let postfix: PostfixRig;
let milterPort: number;

beforeAll(async () => {
  writeFileSync(join(dir, 'content.yml'), exampleContentRules(EXTRA_CONTENT_RULES) + TRACK);
  rig = await startFloodgateBehindPostfix(dir, 'rules: content.yml\nhttp: { listen: "off" }\ntracking: { backend: "off" }\n');
  ({ sink, postfix, milterPort } = rig);
});

afterAll(() => stopFloodgateBehindPostfix(rig, dir));

async function send(body: string, rcpts = ['bob@example.com', 'carol@example.net'], client = CLIENT) {
  return sendMail(postfix.smtpPort, { helo: 'mail.sender.example', xclient: `ADDR=${client} NAME=[UNAVAILABLE]`, from: 'alice@sender.example', rcpts, body });
}

async function delivered(subject: string): Promise<ReceivedMessage> {
  for (let i = 0; i < 100; i++) {
    const found = sink.messages.find((m) => m.headers.some((h) => h.name === 'Subject' && h.value.includes(subject)));
    if (found) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no message with subject ${subject} reached the sink`);
}

const header = (m: ReceivedMessage, name: string) => m.headers.filter((h) => h.name.toLowerCase() === name.toLowerCase()).map((h) => h.value);

test('two phrases: delivered to its recipients with the subject prefixed once and the header added', async () => {
  const body = await compose({ from: 'alice@sender.example', to: 'bob@example.com', subject: 'Your casino bonus m1', text: 'Cheap VIAGRA here.' });
  const result = await send(body);
  expect(result.accepted).toBe(true);
  const m = await delivered('casino bonus m1');
  expect(header(m, 'Subject')).toEqual(['[SPAM] Your casino bonus m1']);
  expect(header(m, 'X-Floodgate-Spam')).toEqual(['yes']);
  expect(m.rcpts.sort()).toEqual(['bob@example.com', 'carol@example.net']);

  // Already prefixed (a reply to a marked message): not prefixed again.
  await send(await compose({ from: 'alice@sender.example', to: 'bob@example.com', subject: '[SPAM] casino bonus m2', text: 'viagra' }));
  expect(header(await delivered('casino bonus m2'), 'Subject')).toEqual(['[SPAM] casino bonus m2']);
});

test('an RFC 2047-encoded subject keeps its encoding under the prefix', async () => {
  const body = await compose({ from: 'alice@sender.example', to: 'bob@example.com', subject: 'Grüße: casino bonus m3', text: 'viagra' });
  expect(body).toMatch(/^Subject: =\?UTF-8\?/m);
  await send(body);
  const m = await delivered('m3');
  const raw = /^Subject: (.*(?:\r\n[ \t].*)*)/m.exec(m.data)![1]!;
  expect(raw).toMatch(/^\[SPAM\] =\?UTF-8\?/);
});

test('all three phrases: only the spambox of the first recipient\'s domain gets it, originals in a header', async () => {
  const body = await compose({ from: 'alice@sender.example', to: 'bob@example.com', subject: 'casino bonus m4', text: 'viagra\nLottery Winner\n' });
  const result = await send(body);
  expect(result.accepted).toBe(true);
  const m = await delivered('m4');
  expect(m.rcpts).toEqual(['spambox@example.com']);
  expect(header(m, 'X-Floodgate-Original-Recipients')).toEqual(['bob@example.com, carol@example.net']);
  expect(header(m, 'Subject')).toEqual(['[SPAM] casino bonus m4']);
});

test('a .vbs attachment is refused at end of data naming the file: plain, RFC 2231-encoded, inside an attached message', async () => {
  const before = sink.messages.length;
  const plain = await compose({ from: 'alice@sender.example', to: 'bob@example.com', subject: 'invoice', text: 'see attached', attachments: [{ filename: 'invoice.pdf.vbs', content: 'x' }] });
  const encoded = await compose({ from: 'alice@sender.example', to: 'bob@example.com', subject: 'Rechnung', text: 'anbei', attachments: [{ filename: 'Rechnung-März.vbs', content: 'x' }] });
  expect(encoded).toMatch(/filename\*0?\*?=utf-8''/i);
  const nested = await nestedVbsMessage('alice@sender.example', 'bob@example.com');
  for (const [body, name] of [[plain, 'invoice.pdf.vbs'], [encoded, 'Rechnung-M?rz.vbs'], [nested, 'Rechnung-M?rz.vbs']] as const) {
    const result = await send(body);
    expect(result.failedAt).toBe('endOfData');
    expect(result.endOfData?.raw.trim()).toBe(`554 5.7.1 Attachment ${name} is not accepted here`);
  }
  // Clients in the exempt network are never content-checked.
  expect((await send(plain, ['bob@example.com'], EXEMPT)).accepted).toBe(true);
  await new Promise((r) => setTimeout(r, 300));
  expect(sink.messages.length).toBe(before + 1);
});

test('discard: the client hears 250 and the sink gets nothing', async () => {
  const before = sink.messages.length;
  const result = await send(await compose({ from: 'alice@sender.example', to: 'bob@example.com', subject: 'gone', text: 'please-discard-this' }));
  expect(result.accepted).toBe(true);
  await postfix.waitForLog(/milter-discard: END-OF-MESSAGE/);
  await new Promise((r) => setTimeout(r, 500));
  expect(sink.messages.length).toBe(before);
});

test('quarantine: the message sits in Postfix\'s hold queue', async () => {
  const result = await send(await compose({ from: 'alice@sender.example', to: 'bob@example.com', subject: 'held m6', text: 'please-hold-this' }));
  expect(result.accepted).toBe(true);
  const queueId = /queued as ([0-9A-Za-z]+)/.exec(result.endOfData!.raw)![1];
  // Postfix 3.7 logs the hold without the milter's reason.
  await postfix.waitForLog(new RegExp(`${queueId}: milter-hold: END-OF-MESSAGE .*milter triggers HOLD action`));
  const queue = execFileSync('postqueue', ['-c', postfix.configDir, '-j'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { queue_id: string; queue_name: string });
  expect(queue).toContainEqual(expect.objectContaining({ queue_id: queueId, queue_name: 'hold' }));
});

test('a plain message is delivered untouched', async () => {
  await send(await compose({ from: 'alice@sender.example', to: 'bob@example.com', subject: 'lunch m7', text: 'see you at noon' }));
  const m = await delivered('lunch m7');
  expect(header(m, 'Subject')).toEqual(['lunch m7']);
  expect(header(m, 'X-Floodgate-Spam')).toEqual([]);
});

test('negotiation: content rules ask for headers and body; the shipped rules negotiate both away', async () => {
  const offered = async (port: number) => {
    const mta = await MtaClient.open({ port });
    const answer = await mta.negotiate();
    mta.close();
    return answer.protocol;
  };
  const withContent = await offered(milterPort);
  expect(withContent & (Proto.NOHDRS | Proto.NOBODY | Proto.NOEOH)).toBe(0);

  const port = await freePort();
  writeFileSync(join(dir, 'envelope.yml'), `listen: inet:127.0.0.1:${port}\nstate_dir: state2\nhttp: { listen: "off" }\ntracking: { backend: "off" }\n`);
  await startFloodgateProcess(join(dir, 'envelope.yml'));
  const envelopeOnly = await offered(port);
  expect(envelopeOnly & Proto.NOHDRS).toBe(Proto.NOHDRS);
  expect(envelopeOnly & Proto.NOBODY).toBe(Proto.NOBODY);
  expect(envelopeOnly & Proto.NOEOH).toBe(Proto.NOEOH);
  // No shipped rule counts HELO or MAIL: over TCP with TCP_QUICKACK the MTA need not wait for their
  // answers (issue 20); CONNECT (the trusted networks' accept) and RCPT are answered.
  expect(envelopeOnly & (Proto.NR_HELO | Proto.NR_MAIL)).toBe(Proto.NR_HELO | Proto.NR_MAIL);
  expect(envelopeOnly & (Proto.NR_CONN | Proto.NR_RCPT)).toBe(0);
});

async function copiesIn(folder: string, count: number): Promise<string[]> {
  for (let i = 0; i < 50; i++) {
    let files: string[] = [];
    try {
      files = readdirSync(join(COPIES, folder)).map((f) => readFileSync(join(COPIES, folder, f), 'utf8'));
    } catch {
      // not created yet
    }
    if (files.length >= count) return files;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`fewer than ${count} copies in ${folder}`);
}

test('tracking copies: whole messages of the chosen sender and of refused attachments, nothing else', async () => {
  const body = await compose({ from: 'ceo@customer.example', to: 'bob@example.com', subject: 'quarterly figures m8', text: 'numbers attached' });
  const result = await sendMail(postfix.smtpPort, { helo: 'mail.customer.example', xclient: `ADDR=${CLIENT} NAME=[UNAVAILABLE]`, from: 'ceo@customer.example', rcpts: ['bob@example.com'], body });
  expect(result.accepted).toBe(true);
  const [copy] = await copiesIn('customer-sender', 1);
  expect(copy).toMatch(/^Subject: quarterly figures m8\r$/m);
  expect(copy).toContain('\r\n\r\nnumbers attached');
  // The .vbs messages refused above (and the exempt client's, whose rule did not fire: not copied).
  const refused = await copiesIn('refused-attachments', 3);
  expect(refused).toHaveLength(3);
  expect(refused.every((c) => /filename/.test(c) && /\.vbs/.test(c))).toBe(true);
  expect(readdirSync(COPIES).sort()).toEqual(['.incoming', 'customer-sender', 'refused-attachments']);
  // A kept copy is linked into its folder first and its .incoming file removed after (both behind the
  // answer to the MTA): the folder can show it a moment before .incoming is empty.
  await waitFor(() => readdirSync(join(COPIES, '.incoming')).length === 0, 5_000, '.incoming to be emptied').catch(() => undefined);
  expect(readdirSync(join(COPIES, '.incoming'))).toEqual([]);
});
