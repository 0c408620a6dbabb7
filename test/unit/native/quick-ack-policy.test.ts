// Which reads MilterConnection acknowledges at once: only those after which the MTA hears nothing from us.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { EventStage } from '../../../src/milter/negotiation';
import { MilterConnection, type QuickAck } from '../../../src/server/connection';
import type { MilterHandler } from '../../../src/session/handler';
import type { SessionOptions } from '../../../src/session/session';
import { cstr, frame, u16, u32 } from '../../support/frame-builder';

/** Just enough of net.Socket for MilterConnection; records what the milter wrote. */
class FakeSocket extends EventEmitter {
  readonly written: Buffer[] = [];
  writable = true;
  private paused = false;
  setNoDelay(): this {
    return this;
  }
  setTimeout(): this {
    return this;
  }
  write(bytes: Buffer): boolean {
    this.written.push(bytes);
    return true;
  }
  end(): void {
    this.writable = false;
  }
  destroy(): void {
    this.writable = false;
    this.emit('close');
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  isPaused(): boolean {
    return this.paused;
  }
}

const STAGES: EventStage[] = ['connect', 'helo', 'mail', 'rcpt', 'data'];
const handler = (observeOnly: EventStage[] = []): MilterHandler => ({
  needs: () => ({ stages: new Set(STAGES), observeOnly: new Set(observeOnly), actions: 0 }),
});

/** A connection over a fake socket; `transport` only steers negotiation (NR flags on unix). */
function open(policy: QuickAck['policy'], transport: SessionOptions['transport'] = 'tcp', observeOnly: EventStage[] = []) {
  const socket = new FakeSocket();
  const ackNow = jest.fn(() => true);
  new MilterConnection(
    'c1',
    socket as unknown as Socket,
    handler(observeOnly),
    { transport, failDecision: { kind: 'tempfail' }, maxDelayMs: 1000, progressIntervalMs: 1000 },
    { maxFrameBytes: 1 << 20, frameTimeoutMs: 1000, idleTimeoutMs: 1000 },
    { protocolError: () => undefined, closed: () => undefined },
    { ackNow, policy },
  );
  /** Delivers one read; resolves once the milter has answered what needed an answer. */
  const read = async (...frames: Buffer[]): Promise<void> => {
    socket.emit('data', Buffer.concat(frames));
    await new Promise((r) => setImmediate(r));
  };
  return { socket, ackNow, read };
}

const optneg = frame('O', u32(6), u32(0x1ff), u32(0x1fffff));
const macros = (forCmd: string) => frame('D', Buffer.from(forCmd), cstr('i'), cstr('4AB12'));
const mail = frame('M', cstr('<a@example.org>'));
const rcpt = frame('R', cstr('<b@example.com>'));
const connectCmd = frame('C', cstr('client.example.org'), Buffer.from('4'), u16(25), cstr('192.0.2.1'));

describe("policy 'unanswered'", () => {
  test('a read ending with a macro packet is acknowledged at once (Sendmail writes the command separately)', async () => {
    const { ackNow, read } = open('unanswered');
    await read(optneg);
    expect(ackNow).not.toHaveBeenCalled();
    await read(macros('M'));
    expect(ackNow).toHaveBeenCalledTimes(1);
    await read(mail);
    expect(ackNow).toHaveBeenCalledTimes(1);
  });

  test('macro packet and command in one read: the answer carries the ACK, no call', async () => {
    const { ackNow, read, socket } = open('unanswered');
    await read(optneg);
    await read(macros('C'), connectCmd);
    await read(macros('M'), mail);
    await read(rcpt);
    expect(ackNow).not.toHaveBeenCalled();
    expect(socket.written.length).toBe(4); // optneg answer and three 'continue'
  });

  test('half a packet and ABORT are acknowledged: the MTA waits for nothing from us', async () => {
    const { ackNow, read } = open('unanswered');
    await read(optneg);
    await read(mail.subarray(0, 6));
    expect(ackNow).toHaveBeenCalledTimes(1);
    await read(mail.subarray(6));
    expect(ackNow).toHaveBeenCalledTimes(1);
    await read(frame('A'));
    expect(ackNow).toHaveBeenCalledTimes(2);
  });

  test('a command negotiated as no-reply (NR) is acknowledged; an answered one is not', async () => {
    const { ackNow, read, socket } = open('unanswered', 'unix', ['rcpt']);
    await read(optneg);
    const answer = socket.written[0];
    expect(answer.readUInt32BE(13) & 0x8000).toBe(0x8000); // SMFIP_NR_RCPT granted
    await read(mail);
    expect(ackNow).not.toHaveBeenCalled();
    await read(rcpt);
    expect(ackNow).toHaveBeenCalledTimes(1);
    expect(socket.written.length).toBe(2); // optneg answer and MAIL's continue; RCPT unanswered
  });
});

describe("policy 'every-read'", () => {
  test('every read is acknowledged, answered or not', async () => {
    const { ackNow, read } = open('every-read');
    await read(optneg);
    await read(macros('M'));
    await read(mail);
    await read(rcpt);
    expect(ackNow).toHaveBeenCalledTimes(4);
  });
});
