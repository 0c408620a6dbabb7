// Proves the Sendmail and miltertest rigs: mail flows through a private Sendmail to the sink, a
// dead milter with F=T tempfails at MAIL FROM, and runMiltertest reports success and failure.
import * as fs from 'fs';
import { runMiltertest } from '../support/miltertest';
import { canConnect, freePort } from '../support/ports';
import { pidAlive, waitFor } from '../support/processes';
import { SENDMAIL_HOSTNAME, SendmailRig, startSendmail } from '../support/sendmail-rig';
import { sendMail } from '../support/smtp-client';
import { SmtpSink, startSmtpSink } from '../support/smtp-sink';

jest.setTimeout(60_000);

let sink: SmtpSink;
const rigs: SendmailRig[] = [];

async function rig(opts: Omit<Parameters<typeof startSendmail>[0], 'relayPort'>): Promise<SendmailRig> {
  const started = Date.now();
  const r = await startSendmail({ ...opts, relayPort: sink.port });
  rigs.push(r);
  // Without a qualified host name Sendmail sleeps 60 s at start: a slow start means that came back.
  expect(Date.now() - started).toBeLessThan(10_000);
  return r;
}

beforeAll(async () => {
  sink = await startSmtpSink();
});

afterAll(async () => {
  await Promise.all(rigs.map((r) => r.stop()));
  await sink?.close();
});

describe('Sendmail rig', () => {
  test('relays an accepted message to the sink, logs it, and stops cleanly', async () => {
    const sm = await rig({});
    const result = await sendMail(sm.smtpPort, {
      helo: 'client.example',
      from: 'alice@example.com',
      rcpts: ['bob@example.net', 'carol@localhost'],
      body: 'From: <alice@example.com>\r\nTo: <bob@example.net>\r\nSubject: rig test\r\n\r\nhello\r\n',
    });
    expect(result.greeting.text).toContain(`${SENDMAIL_HOSTNAME} ESMTP Sendmail`);
    expect(result.accepted).toBe(true);

    const [msg] = await sink.waitForMessages(1, 10_000);
    expect(msg.from).toBe('alice@example.com');
    // MAIL_HUB rewrites local recipients (localhost, the rig's own name) to user@[hub]: Sendmail
    // relays carol@localhost as carol@[127.0.0.1]. Use non-local domains to keep addresses as sent.
    expect(msg.rcpts.sort()).toEqual(['bob@example.net', 'carol@[127.0.0.1]']);
    expect(msg.headers.find((h) => h.name === 'Subject')?.value).toBe('rig test');
    expect(msg.headers.find((h) => h.name === 'Received')?.value).toContain(`by ${SENDMAIL_HOSTNAME}`);
    expect(msg.data).toContain('\r\n\r\nhello\r\n');

    // Sendmail's syslog is captured through the private /dev/log.
    expect(sm.log()).toContain('starting daemon');
    // The delivery child logs stat=Sent after the sink's reply to QUIT, i.e. after the sink has the message.
    await waitFor(() => /stat=Sent/.test(sm.log()), 5000, 'Sendmail to log stat=Sent');

    await sm.stop();
    expect(pidAlive(sm.pid)).toBe(false);
    expect(fs.existsSync(sm.dir)).toBe(false);
    expect(await canConnect(sm.smtpPort, '127.0.0.1', 500)).toBe(false);
    await sm.stop(); // idempotent
  });

  test('a milter that is down with F=T tempfails at MAIL FROM (451 4.3.2)', async () => {
    const deadPort = await freePort();
    const sm = await rig({ milter: `inet:${deadPort}@127.0.0.1`, milterFlags: 'T' });
    const before = sink.messages.length;
    const result = await sendMail(sm.smtpPort, { helo: 'client.example', from: 'alice@example.com', rcpts: ['bob@example.net'] });
    expect(result.greeting.code).toBe(220);
    expect(result.helo?.code).toBe(250);
    expect(result.failedAt).toBe('mail');
    const mail = result.transcript.find((t) => t.stage === 'mail')?.reply;
    expect(mail?.code).toBe(451);
    expect(mail?.text).toContain('4.3.2');
    await waitFor(() => sm.log().includes('--- 451 4.3.2'), 5000, 'Sendmail to log its 451');
    expect(sm.log()).toMatch(/Milter \(floodgate\): error connecting to filter: Connection refused/);
    // The rig's start-up check made no SMTP session: the only milter attempt is the client's.
    expect(sm.log().match(/Milter: initialization failed/g)).toHaveLength(1);
    expect(sink.messages.length).toBe(before);
  });
});

describe('runMiltertest', () => {
  test('a trivially successful script exits 0 and its output is returned', async () => {
    const r = await runMiltertest('print("ok " .. GREETING)', { vars: { GREETING: 'there' } });
    expect(r).toEqual({ code: 0, stdout: 'ok there\n', stderr: '' });
  });

  test('a connect to an unused port fails with a nonzero code and a visible error', async () => {
    const port = await freePort();
    const r = await runMiltertest('local conn = mt.connect("inet:" .. PORT .. "@127.0.0.1")\nprint("connected")', {
      vars: { PORT: String(port) },
    });
    expect(r.code).not.toBe(0);
    expect(r.stdout).not.toContain('connected');
    expect(r.stderr).toContain('Connection refused');
  });

  test('error() in a script is reported on stderr', async () => {
    const r = await runMiltertest('print("checking")\nerror("expected 42, got 7")');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('checking\n');
    expect(r.stderr).toContain('expected 42, got 7');
  });
});
