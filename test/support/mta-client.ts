// A scripted MTA side of the milter protocol for integration tests; it can also misbehave on purpose.
import { connect, type Socket } from 'node:net';
import { FrameDecoder, encodeFrame } from '../../src/milter/frame-decoder';
import { framesOf } from './frames';

export interface ReplyFrame {
  /** The reply letter ('c', 'y', 'h', 'O', ...). */
  code: string;
  data: Buffer;
  /** The data as a string without the trailing NUL (for 'y', 'h', ...). */
  text: string;
  /** Milliseconds since the command before it was written. */
  elapsedMs: number;
}

/** SMFIP_NR_CONN, _HELO, _MAIL, _RCPT. */
const NO_REPLY = { C: 0x1000, H: 0x2000, M: 0x4000, R: 0x8000 } as const;

export type ConnectTarget = { port: number; host?: string } | { path: string };

export class MtaClient {
  private readonly decoder = new FrameDecoder();
  private readonly replies: ReplyFrame[] = [];
  private waiters: Array<() => void> = [];
  private sentAt = Date.now();
  /** The protocol flags the milter answered to OPTNEG (0 before negotiate()). */
  protocol = 0;
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const f of framesOf(this.decoder, chunk)) {
        const data = f.subarray(1);
        this.replies.push({ code: String.fromCharCode(f[0]), data, text: data.toString('utf8').replace(/\0$/, '').replace(/\0/g, '|'), elapsedMs: Date.now() - this.sentAt });
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static open(target: ConnectTarget): Promise<MtaClient> {
    return new Promise((resolve, reject) => {
      const socket = 'path' in target ? connect(target.path) : connect(target.port, target.host ?? '127.0.0.1');
      socket.once('connect', () => resolve(new MtaClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Writes one command frame (letter + raw data). */
  send(cmd: string, ...parts: Array<string | Buffer | number[]>): void {
    const data = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));
    this.sentAt = Date.now();
    this.socket.write(encodeFrame(cmd.charCodeAt(0), data));
  }

  raw(bytes: Buffer): void {
    this.sentAt = Date.now();
    this.socket.write(bytes);
  }

  /**
   * The answer to the envelope command just sent ('C', 'H', 'M' or 'R'), as an MTA sees it: when the
   * milter negotiated that stage without a reply (SMFIP_NR_*), nothing comes and the MTA goes on as
   * after continue, so this returns a 'c' frame without reading; otherwise the next reply.
   */
  async answerTo(cmd: 'C' | 'H' | 'M' | 'R', timeoutMs = 5000): Promise<ReplyFrame> {
    if ((this.protocol & NO_REPLY[cmd]) !== 0) return { code: 'c', data: Buffer.alloc(0), text: '', elapsedMs: 0 };
    return this.reply(timeoutMs);
  }

  /** Next reply frame; rejects if the milter closes first or nothing comes within timeoutMs. */
  async reply(timeoutMs = 5000): Promise<ReplyFrame> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies.length === 0) {
      if (this.closed) throw new Error('milter closed the connection');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.replies.shift()!;
  }

  /** Resolves once the milter has closed the socket. */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`connection still open after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Offers version 6, all actions and all protocol steps, as Postfix and Sendmail do. */
  async negotiate(version = 6, actions = 0x1ff, protocol = 0x1fffff): Promise<{ version: number; actions: number; protocol: number; rest: Buffer }> {
    this.send('O', u32(version), u32(actions), u32(protocol));
    const r = await this.reply();
    if (r.code !== 'O') throw new Error(`expected an OPTNEG answer, got '${r.code}'`);
    this.protocol = r.data.readUInt32BE(8);
    return { version: r.data.readUInt32BE(0), actions: r.data.readUInt32BE(4), protocol: this.protocol, rest: r.data.subarray(12) };
  }

  macros(forCmd: string, pairs: Record<string, string>): void {
    this.send('D', forCmd, ...Object.entries(pairs).map(([k, v]) => `${k}\0${v}\0`));
  }

  connectInfo(hostname: string, address: string, port = 54321): void {
    const family = address.includes(':') ? '6' : '4';
    this.send('C', `${hostname}\0`, family, u16(port), `${address}\0`);
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w();
  }
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
