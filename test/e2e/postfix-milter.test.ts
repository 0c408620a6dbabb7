// Real Postfix (private instance, loopback) with Floodgate as smtpd_milters, over TCP and a unix socket.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MilterServer } from '../../src/server/milter-server';
import { startMilter, type ServerLog } from '../support/milter-under-test';
import { startPostfix, type PostfixRig } from '../support/postfix-rig';
import { sendMail } from '../support/smtp-client';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink';
import { MARKED, verdictHandler, type RecordedEvent } from '../support/verdict-handler';

jest.setTimeout(60_000);

const socketDir = mkdtempSync(join(tmpdir(), 'fg-pf-'));
// Postfix's smtpd runs as user postfix: it needs to traverse the directory of the socket.
chmodSync(socketDir, 0o755);
const transports = [
  { name: 'TCP', address: { kind: 'tcp' as const, host: '127.0.0.1', port: 0 } },
  { name: 'unix socket', address: { kind: 'unix' as const, path: join(socketDir, 'floodgate.sock') } },
];
afterAll(() => rmSync(socketDir, { recursive: true, force: true }));

describe.each(transports)('Postfix through Floodgate over $name', ({ address }) => {
  let sink: SmtpSink;
  let milter: MilterServer;
  let log: ServerLog;
  let postfix: PostfixRig;
  const events: RecordedEvent[] = [];

  beforeAll(async () => {
    sink = await startSmtpSink();
    ({ server: milter, log } = await startMilter(verdictHandler(events), address, {}, 0o666));
    const spec = address.kind === 'tcp' ? `inet:127.0.0.1:${milter.port}` : `unix:${address.path}`;
    postfix = await startPostfix({ milter: spec, relayPort: sink.port, milterDefaultAction: 'tempfail' });
  });
  afterAll(async () => {
    await postfix?.stop();
    await milter?.close(1000);
    await sink?.close();
  });

  test('a recipient is rejected with the custom 550, the rest is delivered with the added header', async () => {
    const result = await sendMail(postfix.smtpPort, {
      helo: 'client.example.org',
      xclient: 'ADDR=198.51.100.20 NAME=[UNAVAILABLE]',
      from: 'alice@example.org',
      rcpts: ['ok@example.com', MARKED.rejectedRecipient],
    });
    expect(result.rcpts.map((r) => r.code)).toEqual([250, 550]);
    expect(result.rcpts[1].raw).toContain(`550 5.7.1 ${MARKED.rejectText}`);
    expect(result.accepted).toBe(true);
    const [message] = await sink.waitForMessages(1);
    expect(message.rcpts).toEqual(['ok@example.com']);
    expect(message.headers).toContainEqual({ name: MARKED.header.name, value: MARKED.header.value });
    // The milter saw the XCLIENT address in CONNECT and Postfix's own name in macro v.
    expect(events.find((e) => e.stage === 'connect' && e.detail?.includes('198.51.100.20'))?.detail).toMatch(/v=Postfix 3\./);
  });

  test('a sender is tempfailed with the custom 451 and nothing is delivered', async () => {
    const before = sink.messages.length;
    const result = await sendMail(postfix.smtpPort, { helo: 'client.example.org', from: MARKED.tempfailedSender, rcpts: ['ok@example.com'] });
    expect(result.failedAt).toBe('mail');
    expect(result.transcript.find((t) => t.stage === 'mail')?.reply.raw).toContain(`451 4.7.1 ${MARKED.tempfailText}`);
    expect(result.accepted).toBe(false);
    await new Promise((r) => setTimeout(r, 500));
    expect(sink.messages.length).toBe(before);
  });

  test('a marked client is delayed 3 s at connect, then its mail flows', async () => {
    const started = Date.now();
    const result = await sendMail(postfix.smtpPort, {
      helo: 'client.example.org',
      xclient: `ADDR=${MARKED.delayedClient} NAME=[UNAVAILABLE]`,
      from: 'bob@example.org',
      rcpts: ['ok@example.com'],
    });
    const elapsed = Date.now() - started;
    expect(result.accepted).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(2900);
    expect(elapsed).toBeLessThan(10_000);
    expect(log.decisions.some((d) => d.stage === 'connect' && d.delayMs >= 2900)).toBe(true);
  });

  test('no protocol errors and no handler errors were logged', () => {
    expect(log.protocolErrors).toEqual([]);
    expect(log.handlerErrors).toEqual([]);
    expect(postfix.log()).not.toMatch(/(warning|error|fatal):.*milter/i);
  });
});
