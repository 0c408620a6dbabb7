// Self-test of the e2e rig: a private Postfix relays to the in-process sink, and its milter wiring is live.
import { freePort } from '../support/ports';
import { PostfixRig, startPostfix } from '../support/postfix-rig';
import { sendMail } from '../support/smtp-client';
import { SmtpSink, startSmtpSink } from '../support/smtp-sink';

// Postfix start-up alone takes ~2 s (postfix-script runs its permission checks).
jest.setTimeout(60_000);

describe('Postfix rig without a milter', () => {
  let sink: SmtpSink;
  let postfix: PostfixRig;

  beforeAll(async () => {
    sink = await startSmtpSink();
    postfix = await startPostfix({ relayPort: sink.port });
  });

  afterAll(async () => {
    await postfix?.stop();
    await sink?.close();
  });

  it('relays a message from 127.0.0.1 and one via XCLIENT to the sink with their envelopes', async () => {
    const direct = await sendMail(postfix.smtpPort, {
      helo: 'client.example.net',
      from: 'alice@example.net',
      rcpts: ['bob@example.com', 'carol@example.org'],
      body: 'From: alice@example.net\r\nTo: bob@example.com\r\nSubject: direct\r\n\r\n.leading dot\r\nbye\r\n',
    });
    expect(direct.greeting.code).toBe(220);
    expect(direct.rcpts.map((r) => r.code)).toEqual([250, 250]);
    expect(direct.endOfData?.code).toBe(250);
    expect(direct.accepted).toBe(true);

    const viaXclient = await sendMail(postfix.smtpPort, {
      helo: 'remote.example.org',
      from: 'dave@example.org',
      rcpts: ['erin@example.com'],
      xclient: 'ADDR=192.0.2.7 NAME=[UNAVAILABLE]',
    });
    expect(viaXclient.xclient?.code).toBe(220);
    expect(viaXclient.heloAfterXclient?.code).toBe(250);
    expect(viaXclient.accepted).toBe(true);

    const messages = await sink.waitForMessages(2, 20_000);
    const bySender = new Map(messages.map((m) => [m.from, m]));
    const first = bySender.get('alice@example.net');
    const second = bySender.get('dave@example.org');
    expect(first?.rcpts.sort()).toEqual(['bob@example.com', 'carol@example.org']);
    expect(first?.headers.find((h) => h.name === 'Subject')?.value).toBe('direct');
    expect(first?.data).toContain('\r\n.leading dot\r\n'); // stuffed by the client, unstuffed twice on the way
    expect(second?.rcpts).toEqual(['erin@example.com']);
    // Postfix's Received header records the XCLIENT address, proving XCLIENT took effect.
    expect(second?.headers.find((h) => h.name === 'Received')?.value).toContain('192.0.2.7');
  });

  it('applies main.cf changes on reload', async () => {
    await postfix.setMainCf({ smtpd_banner: '$myhostname ESMTP reloaded rig' });
    await postfix.reload();
    // Idle smtpd processes from before the reload exit on the master's signal; a new session gets the new banner.
    const result = await sendMail(postfix.smtpPort, { helo: 'c.example.net', from: 'a@example.net', rcpts: ['b@example.com'] });
    expect(result.greeting.text).toContain('reloaded rig');
    await sink.waitForMessages(3, 20_000);
  });
});

describe('Postfix rig with an unreachable milter', () => {
  let sink: SmtpSink;
  let postfix: PostfixRig;

  beforeAll(async () => {
    sink = await startSmtpSink();
    const deadPort = await freePort(); // nothing listens here: the connection is refused
    postfix = await startPostfix({
      relayPort: sink.port,
      milter: `inet:127.0.0.1:${deadPort}`,
      milterDefaultAction: 'tempfail',
    });
  });

  afterAll(async () => {
    await postfix?.stop();
    await sink?.close();
  });

  it('answers 4xx (milter_default_action = tempfail) and relays nothing', async () => {
    const result = await sendMail(postfix.smtpPort, {
      helo: 'client.example.net',
      from: 'alice@example.net',
      rcpts: ['bob@example.com'],
    });
    expect(result.accepted).toBe(false);
    const failed = result.transcript.find((t) => t.stage === result.failedAt);
    expect(failed?.reply.code).toBeGreaterThanOrEqual(400);
    expect(failed?.reply.code).toBeLessThan(500);
    expect(postfix.log()).toMatch(/milter/i);
    expect(sink.messages).toHaveLength(0);
  });
});
