// The fuzz corpus (test/fixtures/milter-corpus/) against today's real Postfix and Sendmail: each
// SMTP scenario is run through a recording proxy in front of the built Floodgate service, and the
// MTA's packet sequence must still be the committed one (a new MTA version that talks differently
// fails here, and the corpus is re-captured). FLOODGATE_CAPTURE_CORPUS=1 writes the captured
// conversations to the corpus instead of comparing (as root, after npm run build).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFloodgateProcess, type FloodgateProcess } from '../support/floodgate-process';
import { startMilterRecorder, type MilterRecorder } from '../support/milter-recorder';
import { CORPUS_DIR, CORPUS_RULES, readCorpus, splitFrames, writeCorpus, type CorpusConversation } from '../support/milter-corpus';
import { freePort } from '../support/ports';
import { startPostfix } from '../support/postfix-rig';
import { killAllTracked, runCommand, waitFor } from '../support/processes';
import { startSendmail } from '../support/sendmail-rig';
import { sendMail, smtpConnect, type SendMailOptions } from '../support/smtp-client';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink';

jest.setTimeout(120_000);

const WRITE = process.env.FLOODGATE_CAPTURE_CORPUS === '1';

const LONG_LOCAL = 'a'.repeat(64);
const LONG_DOMAIN = `${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.example.org`;

function bigBody(from: string, to: string): string {
  const lines = [`From: <${from}>`, `To: <${to}>`, 'Subject: a larger message with several headers', 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', `X-Long: ${'x'.repeat(900)}`, ''];
  for (let i = 0; i < 800; i++) lines.push(`line ${i} of a body long enough to arrive in more than one BODY packet.`);
  return lines.join('\r\n');
}

/** Each scenario is one SMTP session, so one milter connection. */
const SCENARIOS: Array<{ name: string; run: (port: number, mta: Mta) => Promise<unknown> }> = [
  { name: 'one recipient', run: (port, mta) => sendMail(port, mail(mta, { from: 'alice@example.org', rcpts: ['bob@example.com'] })) },
  { name: 'three recipients, one refused by the milter', run: (port, mta) => sendMail(port, mail(mta, { from: 'carol@example.org', rcpts: ['a@example.com', 'refuse-me@example.com', 'b@example.net'] })) },
  { name: 'sender tempfailed by the milter', run: (port, mta) => sendMail(port, mail(mta, { from: 'slow-down@example.org', rcpts: ['a@example.com'] })) },
  { name: 'null sender (a bounce)', run: (port, mta) => sendMail(port, mail(mta, { from: '', rcpts: ['postmaster@example.com'] })) },
  { name: 'dynamic-looking HELO, client name by XCLIENT', run: (port, mta) => sendMail(port, mail(mta, { helo: 'dsl-198-51-100-9.isp.example', xclient: 'ADDR=198.51.100.9 NAME=dsl-198-51-100-9.isp.example', from: 'user@example.org', rcpts: ['x@example.com'] })) },
  { name: 'IPv6 client by XCLIENT', run: (port, mta) => sendMail(port, mail(mta, { xclient: 'ADDR=IPV6:2001:db8::25 NAME=[UNAVAILABLE]', from: 'six@example.org', rcpts: ['y@example.com'] })) },
  { name: 'longest sender and HELO', run: (port, mta) => sendMail(port, mail(mta, { helo: LONG_DOMAIN, from: `${LONG_LOCAL}@${LONG_DOMAIN}`, rcpts: ['z@example.com'] })) },
  { name: 'large body, header mark added', run: (port, mta) => sendMail(port, mail(mta, { from: 'bulk@example.org', rcpts: ['r1@example.com', 'r2@example.com', 'r3@example.com', 'r4@example.com'], body: bigBody('bulk@example.org', 'r1@example.com') })) },
  { name: 'transaction abandoned after RCPT (RSET, then QUIT)', run: (port) => abandoned(port) },
  { name: 'two messages in one session', run: (port) => twoMessages(port) },
];

type Mta = 'postfix' | 'sendmail';

/** Sendmail has no XCLIENT (it would answer 500): there the session comes from 127.0.0.1 as it is. */
function mail(mta: Mta, opts: Partial<SendMailOptions> & { from: string; rcpts: string[] }): SendMailOptions {
  const { xclient, ...rest } = opts;
  return { helo: 'client.example.org', ...rest, ...(mta === 'postfix' && xclient !== undefined ? { xclient } : {}) };
}

async function abandoned(port: number): Promise<void> {
  const smtp = await smtpConnect(port);
  await smtp.command('EHLO quitter.example.org');
  await smtp.command('MAIL FROM:<quitter@example.org>');
  await smtp.command('RCPT TO:<q@example.com>');
  await smtp.command('RSET');
  await smtp.close();
}

async function twoMessages(port: number): Promise<void> {
  const smtp = await smtpConnect(port);
  await smtp.command('EHLO twice.example.org');
  for (const n of [1, 2]) {
    await smtp.command(`MAIL FROM:<twice${n}@example.org>`);
    await smtp.command(`RCPT TO:<t${n}@example.com>`);
    await smtp.data(`Subject: message ${n}\r\n\r\nbody ${n}\r\n`);
  }
  await smtp.close();
}

async function capture(recorder: MilterRecorder, smtpPort: number, mta: Mta): Promise<CorpusConversation[]> {
  const conversations: CorpusConversation[] = [];
  for (const scenario of SCENARIOS) {
    const before = recorder.finished.length;
    await scenario.run(smtpPort, mta);
    // The MTA closes its milter connection after the SMTP session (Postfix may keep it a moment).
    await waitFor(() => recorder.finished.length > before && recorder.open === 0, 20_000, `the milter connection of "${scenario.name}" to close`);
    for (const connection of recorder.finished.slice(before)) {
      conversations.push({ scenario: scenario.name, packets: splitFrames(connection.toMilter).map(hex), replies: splitFrames(connection.toMta).map(hex) });
    }
  }
  return conversations;
}

const hex = (b: Buffer) => b.toString('hex');

/** The command letters of each conversation: what must not drift (contents vary: dates, queue ids). */
function commandSequence(conversations: CorpusConversation[]): string[] {
  return conversations.map((c) => `${c.scenario}: ${c.packets.map((p) => String.fromCharCode(parseInt(p.slice(8, 10), 16))).join('')}`);
}

const dir = mkdtempSync(join(tmpdir(), 'fg-corpus-'));
let floodgate: FloodgateProcess | undefined;
let recorder: MilterRecorder;
let sink: SmtpSink;
const committed = WRITE ? [] : readCorpus();

beforeAll(async () => {
  const milterPort = await freePort();
  writeFileSync(join(dir, 'rules.yml'), CORPUS_RULES);
  writeFileSync(join(dir, 'floodgate.yml'), `listen: inet:127.0.0.1:${milterPort}\nrules: rules.yml\nstate_dir: state\nstore: { backend: memory }\ntracking: { backend: "off" }\nhttp: { listen: "off" }\n`);
  sink = await startSmtpSink();
  floodgate = await startFloodgateProcess(join(dir, 'floodgate.yml'));
  recorder = await startMilterRecorder({ host: '127.0.0.1', port: milterPort });
});

afterAll(async () => {
  await recorder?.close();
  await floodgate?.stop();
  await killAllTracked();
  await sink?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('Postfix: every scenario talks as in the committed corpus', async () => {
  const postfix = await startPostfix({ milter: `inet:127.0.0.1:${recorder.port}`, relayPort: sink.port, mainCf: { smtpd_authorized_xclient_hosts: '127.0.0.0/8', inet_protocols: 'all' } });
  try {
    const conversations = await capture(recorder, postfix.smtpPort, 'postfix');
    // Postfix opens a second milter connection after XCLIENT (the session restarts): those scenarios have two.
    expect(conversations.map((c) => c.scenario)).toEqual(SCENARIOS.flatMap((s) => (s.name.includes('XCLIENT') ? [s.name, s.name] : [s.name])));
    const version = (await runCommand('postconf', ['-d', 'mail_version'])).stdout.trim().split(' = ')[1];
    const file = { mta: `Postfix ${version}`, transport: 'inet (TCP on loopback)', conversations };
    if (WRITE) writeCorpus(join(CORPUS_DIR, 'postfix.json'), file);
    else expect(commandSequence(conversations)).toEqual(commandSequence(committedFor('Postfix')));
  } finally {
    await postfix.stop();
  }
});

test('Sendmail: every scenario talks as in the committed corpus', async () => {
  const sendmail = await startSendmail({ milter: `inet:${recorder.port}@127.0.0.1`, relayPort: sink.port });
  try {
    const conversations = await capture(recorder, sendmail.smtpPort, 'sendmail');
    expect(conversations.map((c) => c.scenario)).toEqual(SCENARIOS.map((s) => s.name));
    const file = { mta: 'Sendmail 8.17 (Debian sendmail-bin, unpacked)', transport: 'inet (TCP on loopback)', conversations };
    if (WRITE) writeCorpus(join(CORPUS_DIR, 'sendmail.json'), file);
    else expect(commandSequence(conversations)).toEqual(commandSequence(committedFor('Sendmail')));
  } finally {
    await sendmail.stop();
  }
});

function committedFor(mta: string): CorpusConversation[] {
  const file = committed.find((f) => f.mta.startsWith(mta));
  if (!file) throw new Error(`no ${mta} corpus in ${CORPUS_DIR}: capture it with FLOODGATE_CAPTURE_CORPUS=1`);
  return file.conversations;
}
