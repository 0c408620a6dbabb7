// Real Sendmail (unpacked from Debian, private instance) with Floodgate as INPUT_MAIL_FILTER over TCP.
import type { MilterServer } from '../../src/server/milter-server';
import { startMilter, type ServerLog } from '../support/milter-under-test';
import { startSendmail, type SendmailRig } from '../support/sendmail-rig';
import { sendMail } from '../support/smtp-client';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink';
import { MARKED, verdictHandler, type RecordedEvent } from '../support/verdict-handler';

jest.setTimeout(60_000);

describe('Sendmail through Floodgate (inet:PORT@127.0.0.1, F=T)', () => {
  let sink: SmtpSink;
  let milter: MilterServer;
  let log: ServerLog;
  let sendmail: SendmailRig;
  const events: RecordedEvent[] = [];
  // Sendmail has no XCLIENT: every test client is 127.0.0.1, so the delay is switched per test.
  let delayedClient = 'none';

  beforeAll(async () => {
    sink = await startSmtpSink();
    const handler = verdictHandler(events);
    const connect = handler.connect!.bind(handler);
    handler.connect = (ctx) => (ctx.connect?.address === delayedClient ? { kind: 'delay', seconds: MARKED.delaySeconds, then: { kind: 'continue' } } : connect(ctx));
    ({ server: milter, log } = await startMilter(handler));
    sendmail = await startSendmail({ milter: `inet:${milter.port}@127.0.0.1`, relayPort: sink.port });
  });
  afterAll(async () => {
    await sendmail?.stop();
    await milter?.close(1000);
    await sink?.close();
  });

  test('a recipient is rejected with the custom 550, the rest is delivered with the added header', async () => {
    const result = await sendMail(sendmail.smtpPort, { helo: 'client.example.org', from: 'alice@example.org', rcpts: ['ok@example.com', MARKED.rejectedRecipient] });
    expect(result.rcpts.map((r) => r.code)).toEqual([250, 550]);
    // Sendmail prefixes a milter's RCPT reply text with "<rcpt>... ".
    expect(result.rcpts[1].raw).toMatch(new RegExp(`^550 5\\.7\\.1 .*${MARKED.rejectText}`));
    expect(result.accepted).toBe(true);
    const [message] = await sink.waitForMessages(1);
    expect(message.rcpts).toEqual(['ok@example.com']);
    expect(message.headers).toContainEqual({ name: MARKED.header.name, value: MARKED.header.value });
    const connect = events.find((e) => e.stage === 'connect');
    expect(connect?.detail).toContain('127.0.0.1');
  });

  test('a sender is tempfailed with the custom 451', async () => {
    const before = sink.messages.length;
    const result = await sendMail(sendmail.smtpPort, { helo: 'client.example.org', from: MARKED.tempfailedSender, rcpts: ['ok@example.com'] });
    expect(result.transcript.find((t) => t.stage === 'mail')?.reply.raw).toContain(`451 4.7.1 ${MARKED.tempfailText}`);
    await new Promise((r) => setTimeout(r, 500));
    expect(sink.messages.length).toBe(before);
  });

  test('a delayed client waits 3 s (under T=R:10s), then its mail flows', async () => {
    delayedClient = '127.0.0.1';
    try {
      const started = Date.now();
      const result = await sendMail(sendmail.smtpPort, { helo: 'client.example.org', from: 'bob@example.org', rcpts: ['ok@example.com'] });
      expect(result.accepted).toBe(true);
      expect(Date.now() - started).toBeGreaterThanOrEqual(2900);
    } finally {
      delayedClient = 'none';
    }
  });

  test('Sendmail identifies itself without macro v and no protocol errors were logged', () => {
    expect(events.find((e) => e.stage === 'connect')?.detail).toMatch(/v= j=rig\.test\.example/);
    expect(log.protocolErrors).toEqual([]);
    expect(log.handlerErrors).toEqual([]);
  });
});
