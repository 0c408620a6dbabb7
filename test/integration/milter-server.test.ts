// The real server on loopback TCP and a unix socket, driven by a scripted MTA client.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MilterServer } from '../../src/server/milter-server';
import { MtaClient } from '../support/mta-client';
import { startMilter, type ServerLog } from '../support/milter-under-test';
import { MARKED, verdictHandler, type RecordedEvent } from '../support/verdict-handler';

describe('milter server on loopback TCP', () => {
  let server: MilterServer;
  let log: ServerLog;
  const events: RecordedEvent[] = [];
  beforeAll(async () => ({ server, log } = await startMilter(verdictHandler(events, 1))));
  afterAll(() => server.close(1000));

  test('a whole Postfix-like session gets every verdict, custom texts and the end-of-message header', async () => {
    const mta = await MtaClient.open({ port: server.port });
    const neg = await mta.negotiate();
    expect(neg.version).toBe(6);
    expect(neg.actions).toBe(0x001); // ADDHDRS only
    // Headers, EOH, body and UNKNOWN are negotiated away; DATA is kept over TCP.
    expect(neg.protocol & 0x1f0).toBe(0x160 | 0x10);
    expect(neg.protocol & 0x200).toBe(0);
    mta.macros('C', { j: 'mx.example.org', v: 'Postfix 3.7.11' });
    mta.connectInfo('client.example.org', '198.51.100.7');
    expect((await mta.reply()).code).toBe('c');
    mta.send('H', 'client.example.org\0');
    expect((await mta.reply()).code).toBe('c');
    mta.macros('M', { i: '', '{mail_addr}': 'a@example.org' });
    mta.send('M', '<a@example.org>\0', 'SIZE=100\0');
    expect((await mta.reply()).code).toBe('c');
    mta.send('R', `<${MARKED.rejectedRecipient}>\0`);
    const rejected = await mta.reply();
    expect(rejected).toMatchObject({ code: 'y', text: `550 5.7.1 ${MARKED.rejectText}` });
    mta.send('R', '<ok@example.com>\0');
    expect((await mta.reply()).code).toBe('c');
    mta.send('T');
    expect((await mta.reply()).code).toBe('c');
    mta.send('E');
    expect(await mta.reply()).toMatchObject({ code: 'h', text: `${MARKED.header.name}|${MARKED.header.value}` });
    expect((await mta.reply()).code).toBe('c');
    // Postfix's ABORT after a finished transaction, twice, then a second message on one connection.
    mta.send('A');
    mta.send('A');
    mta.send('M', `<${MARKED.tempfailedSender}>\0`);
    expect(await mta.reply()).toMatchObject({ code: 'y', text: `451 4.7.1 ${MARKED.tempfailText}` });
    mta.send('Q');
    await mta.waitClosed();
    const mine = events.filter((e) => e.conn === events.find((x) => x.stage === 'connect' && x.detail?.includes('198.51.100.7'))?.conn);
    expect(mine.map((e) => e.stage)).toEqual(['connect', 'helo', 'mail', 'rcpt', 'rcpt', 'data', 'eom', 'mail', 'abort', 'close']);
    expect(mine.find((e) => e.stage === 'eom')?.detail).toBe('<ok@example.com>');
    expect(mine[0].detail).toContain('v=Postfix 3.7.11');
  });

  test('a delay is a non-blocking timer: other connections are answered meanwhile', async () => {
    const slow = await MtaClient.open({ port: server.port });
    await slow.negotiate();
    slow.connectInfo('[192.0.2.33]', MARKED.delayedClient);
    const fast = await MtaClient.open({ port: server.port });
    await fast.negotiate();
    fast.connectInfo('fast.example', '198.51.100.8');
    const fastReply = await fast.reply();
    expect(fastReply.elapsedMs).toBeLessThan(500);
    const slowReply = await slow.reply(3000);
    expect(slowReply.code).toBe('c');
    expect(slowReply.elapsedMs).toBeGreaterThanOrEqual(950);
    slow.close();
    fast.close();
  });

  test('garbage closes only that connection; the server keeps serving others', async () => {
    const bystander = await MtaClient.open({ port: server.port });
    await bystander.negotiate();
    for (const garbage of [Buffer.from([0, 0, 0, 0]), Buffer.from([0x7f, 0, 0, 0, 0x43]), Buffer.from([0, 0, 0, 1, 0x5a])]) {
      const bad = await MtaClient.open({ port: server.port });
      bad.raw(garbage);
      await bad.waitClosed();
    }
    expect(log.protocolErrors.map((e) => e.code)).toEqual(expect.arrayContaining(['FG_ERR_FRAME', 'FG_ERR_COMMAND']));
    bystander.connectInfo('ok.example', '198.51.100.9');
    expect((await bystander.reply()).code).toBe('c');
    bystander.close();
  });

  test('a command before negotiation is a protocol error', async () => {
    const mta = await MtaClient.open({ port: server.port });
    mta.send('H', 'x\0');
    await mta.waitClosed();
    expect(log.protocolErrors.some((e) => /before option negotiation/.test(e.message))).toBe(true);
  });

  test('a client that drops mid-message ends the message and the connection for the handler', async () => {
    const mta = await MtaClient.open({ port: server.port });
    await mta.negotiate();
    mta.connectInfo('drop.example', '198.51.100.10');
    await mta.reply();
    mta.send('M', '<d@example.org>\0');
    await mta.reply();
    const before = events.length;
    mta.close();
    await waitUntil(() => events.slice(before).some((e) => e.stage === 'close'));
    expect(events.slice(before).map((e) => e.stage)).toEqual(['abort', 'close']);
  });
});

describe('deadlines, limits and shutdown', () => {
  test('an MTA that stalls mid-frame is cut off after the frame timeout', async () => {
    const { server, log } = await startMilter(verdictHandler(), undefined, { limits: { maxFrameBytes: 1 << 20, frameTimeoutMs: 300, idleTimeoutMs: 60_000 } });
    const mta = await MtaClient.open({ port: server.port });
    await mta.negotiate();
    const started = Date.now();
    mta.raw(Buffer.from([0, 0, 0, 20, 0x48, 0x61])); // a HELO announced as 20 bytes, 2 sent
    await mta.waitClosed(3000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(log.protocolErrors).toEqual([expect.objectContaining({ code: 'FG_ERR_TIMEOUT' })]);
    await server.close(100);
  });

  test('a client dripping a packet a byte at a time is cut frame_timeout after its first byte (issue 19)', async () => {
    const { server, log } = await startMilter(verdictHandler(), undefined, { limits: { maxFrameBytes: 1 << 20, frameTimeoutMs: 500, idleTimeoutMs: 60_000 } });
    const mta = await MtaClient.open({ port: server.port });
    await mta.negotiate();
    const started = Date.now();
    // A byte every 100 ms: never silent for the 500 ms a silence timeout would wait for.
    const drip = setInterval(() => mta.raw(Buffer.from([0])), 100);
    mta.raw(Buffer.from([0, 0, 0x10, 0])); // a packet announced as 4,096 bytes
    await mta.waitClosed(3000).finally(() => clearInterval(drip));
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(log.protocolErrors).toEqual([expect.objectContaining({ code: 'FG_ERR_TIMEOUT', message: 'MTA did not complete a packet within 500 ms' })]);
    await server.close(100);
  });

  test('packets split across reads, each completed in time, are never cut', async () => {
    const { server, log } = await startMilter(verdictHandler(), undefined, { limits: { maxFrameBytes: 1 << 20, frameTimeoutMs: 300, idleTimeoutMs: 60_000 } });
    const mta = await MtaClient.open({ port: server.port });
    await mta.negotiate();
    // Eight 200 ms steps, each completing one NOOP-like macro packet and starting the next: 1.6 s
    // mid-packet in all, but no packet open for longer than 200 ms.
    const macro = Buffer.from([0, 0, 0, 2, 0x44, 0x43]); // SMFIC_MACRO for CONNECT, no macros
    mta.raw(macro.subarray(0, 3));
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 200));
      mta.raw(Buffer.concat([macro.subarray(3), macro.subarray(0, 3)]));
    }
    mta.raw(macro.subarray(3));
    await new Promise((r) => setTimeout(r, 100));
    expect(mta.closed).toBe(false);
    expect(log.protocolErrors).toEqual([]);
    mta.close();
    await server.close(100);
  });

  test('an idle connection between packets is kept until the idle timeout', async () => {
    const { server, log } = await startMilter(verdictHandler(), undefined, { limits: { maxFrameBytes: 1 << 20, frameTimeoutMs: 100, idleTimeoutMs: 600 } });
    const mta = await MtaClient.open({ port: server.port });
    await mta.negotiate();
    await new Promise((r) => setTimeout(r, 300));
    expect(mta.closed).toBe(false); // past the frame timeout, but no packet is open
    await mta.waitClosed(3000);
    expect(log.protocolErrors[0]).toMatchObject({ code: 'FG_ERR_TIMEOUT', message: expect.stringContaining('idle') });
    await server.close(100);
  });

  test('connections beyond the cap are refused and logged', async () => {
    const { server, log } = await startMilter(verdictHandler(), undefined, { maxConnections: 1 });
    const first = await MtaClient.open({ port: server.port });
    await first.negotiate();
    const second = await MtaClient.open({ port: server.port });
    await second.waitClosed();
    expect(log.refused).toHaveLength(1);
    first.close();
    await server.close(100);
  });

  test('graceful shutdown lets an in-flight delayed answer finish, then closes', async () => {
    const { server } = await startMilter(verdictHandler([], 1));
    const mta = await MtaClient.open({ port: server.port });
    await mta.negotiate();
    mta.connectInfo('[192.0.2.33]', MARKED.delayedClient);
    await new Promise((r) => setTimeout(r, 100));
    const closing = server.close(5000);
    expect((await mta.reply(3000)).code).toBe('c');
    mta.send('Q');
    await closing;
    await mta.waitClosed();
  });

  test('progress keeps a Postfix MTA waiting through a long delay', async () => {
    const { server } = await startMilter(verdictHandler([], 1), undefined, { session: { failDecision: { kind: 'tempfail' }, maxDelayMs: 25_000, progressIntervalMs: 300 } });
    const mta = await MtaClient.open({ port: server.port });
    await mta.negotiate();
    mta.macros('C', { v: 'Postfix 3.7.11' });
    mta.connectInfo('[192.0.2.33]', MARKED.delayedClient);
    const codes: string[] = [];
    for (let r = await mta.reply(3000); ; r = await mta.reply(3000)) {
      codes.push(r.code);
      if (r.code !== 'p') break;
    }
    expect(codes.filter((c) => c === 'p').length).toBeGreaterThanOrEqual(2);
    expect(codes[codes.length - 1]).toBe('c');
    mta.close();
    await server.close(100);
  });
});

describe('milter server on IPv6 loopback', () => {
  test('listens on inet:[::1]:PORT and serves an MTA', async () => {
    const { server } = await startMilter(verdictHandler(), { kind: 'tcp', host: '::1', port: 0 });
    const mta = await MtaClient.open({ port: server.port, host: '::1' });
    await mta.negotiate();
    mta.connectInfo('v6.example', '2001:db8::7');
    expect((await mta.reply()).code).toBe('c');
    mta.close();
    await server.close(100);
  });
});

describe('milter server on a unix socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-unix-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('removes a stale socket, applies the mode, serves, and negotiates NODATA (safe on unix)', async () => {
    const path = join(dir, 'floodgate.sock');
    // A crashed run leaves its socket file behind with nothing listening: bind one and exit.
    execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', path]);
    expect(statSync(path).isSocket()).toBe(true);
    const { server } = await startMilter({ needs: () => ({ stages: new Set(['connect'] as const), actions: 0 }) }, { kind: 'unix', path }, {}, 0o660);
    expect(statSync(path).mode & 0o777).toBe(0o660);
    const mta = await MtaClient.open({ path });
    const neg = await mta.negotiate();
    expect(neg.protocol & 0x200).toBe(0x200);
    mta.connectInfo('local', '198.51.100.11');
    expect((await mta.reply()).code).toBe('c');
    mta.close();
    await server.close(100);
  });

  test('refuses to take over a socket that a running instance still answers', async () => {
    const path = join(dir, 'busy.sock');
    const { server } = await startMilter(verdictHandler(), { kind: 'unix', path });
    await expect(startMilter(verdictHandler(), { kind: 'unix', path })).rejects.toMatchObject({ code: 'FG_ERR_LISTEN' });
    await server.close(100);
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
