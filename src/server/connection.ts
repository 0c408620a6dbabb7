// Binds one MTA socket to one MilterSession: reassembles frames, serialises commands, owns deadlines.
import type { Socket } from 'node:net';
import { decodeCommand, type MilterCommand } from '../milter/commands';
import { FrameDecoder, type Frame } from '../milter/frame-decoder';
import { FloodgateError } from '../errors';
import { MilterSession, type SessionOptions } from '../session/session';
import type { MilterHandler } from '../session/handler';

export interface ConnectionLimits {
  /** Largest packet accepted from the MTA. */
  maxFrameBytes: number;
  /**
   * Longest time from a packet's first byte to its last: a deadline, not a silence timeout, so that
   * a client dripping a byte every few seconds cannot hold a connection and its buffer for ever.
   * An MTA writes each packet at once (Postfix: one write per packet); it never needs seconds.
   */
  frameTimeoutMs: number;
  /** Longest silence between packets; long, because MTAs keep the socket open during DATA transfer. */
  idleTimeoutMs: number;
}

/**
 * Immediate ACKs for one TCP socket (see src/native/tcp-quickack.ts). 'unanswered' acknowledges
 * only reads after which the MTA hears nothing from us (it ends with a macro packet, an ABORT, an
 * NR command, or mid-packet): there the MTA's next small write waits for our ACK. After a read we
 * answer, the ACK rides on the answer. 'every-read' acknowledges every read (for comparison).
 */
export interface QuickAck {
  ackNow: () => boolean;
  policy: 'unanswered' | 'every-read';
}

export interface ConnectionEvents {
  protocolError(connectionId: string, error: FloodgateError): void;
  closed(connectionId: string): void;
}

/** Queued commands beyond this pause reading: a lock-step MTA never has more than a few in flight. */
const MAX_QUEUED_COMMANDS = 64;

export class MilterConnection {
  private readonly decoder: FrameDecoder;
  /**
   * Dropped once the connection has closed and the session is disposed. A closed connection outlives
   * V8's minor collections until the next full one: Node keeps a closed socket's objects that long
   * (measured: a bare net server that destroys every socket at once has ~510 bytes a connection
   * promoted to the old generation), and this connection's with it. Holding the session, it kept the
   * session's whole graph too: ~3.5 KB a session promoted at peak instead of ~2.6, and full
   * collections that much more often.
   */
  private session: MilterSession | undefined;
  private readonly queue: MilterCommand[] = [];
  private pumping = false;
  private midFrame = false;
  private frameDeadline: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    readonly id: string,
    private readonly socket: Socket,
    handler: MilterHandler,
    sessionOptions: SessionOptions,
    private readonly limits: ConnectionLimits,
    private readonly events: ConnectionEvents,
    private readonly quickAck?: QuickAck,
  ) {
    this.decoder = new FrameDecoder(limits.maxFrameBytes);
    this.session = new MilterSession(id, handler, (bytes) => this.write(bytes), sessionOptions);
    socket.setTimeout(limits.idleTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('timeout', () => this.fail(new FloodgateError('FG_ERR_TIMEOUT', 'MTA connection idle too long')));
    socket.on('error', () => this.socket.destroy());
    socket.on('close', () => this.onClose());
  }

  /** Decodes a packet the frame decoder completed onto the queue. */
  private readonly enqueue = (frame: Frame): void => {
    this.queue.push(decodeCommand(frame));
  };

  /** The session is waiting out a tarpit delay. */
  get delaying(): boolean {
    return this.session?.delaying ?? false;
  }


  /** True while no command is being handled: a graceful shutdown may close the socket now. */
  get idle(): boolean {
    return !this.pumping && this.queue.length === 0;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    const session = this.session;
    if (session === undefined) return;
    const queuedBefore = this.queue.length;
    try {
      this.decoder.push(chunk, this.enqueue);
    } catch (error) {
      // The commands queued before the bad packet are not handled either: fail() ends the connection.
      this.fail(error);
      return;
    }
    const added = this.queue.length - queuedBefore;
    const midFrame = this.decoder.hasPartialFrame;
    // Before the commands are handled: the MTA's held write should not wait for our handler either.
    // Not after QUIT: the socket closes next, and the FIN carries the ACK.
    const last = added > 0 ? this.queue[this.queue.length - 1] : undefined;
    if (this.quickAck && last?.kind !== 'quit' && (this.quickAck.policy === 'every-read' || midFrame || !session.answers(last))) this.quickAck.ackNow();
    // The deadline runs from the chunk that began the incomplete packet: a chunk that completed one
    // packet and began the next restarts it.
    if (!midFrame || added > 0 || !this.midFrame) this.clearFrameDeadline();
    if (midFrame && this.frameDeadline === undefined) {
      this.frameDeadline = setTimeout(() => this.fail(new FloodgateError('FG_ERR_TIMEOUT', `MTA did not complete a packet within ${this.limits.frameTimeoutMs} ms`)), this.limits.frameTimeoutMs);
    }
    this.midFrame = midFrame;
    if (added === 0) return;
    if (this.queue.length > MAX_QUEUED_COMMANDS) this.socket.pause();
    if (!this.pumping) this.pump();
  }

  /**
   * Handles the queued commands in order, one at a time: those the session answers at once in this
   * turn, and after one that has to wait, the rest once it is done.
   */
  private pump(): void {
    this.pumping = true;
    try {
      while (this.queue.length > 0 && !this.ended) {
        const cmd = this.queue.shift()!;
        // Never undefined here: the session goes only after the connection has ended.
        const pending = this.session!.receive(cmd);
        if (pending instanceof Promise) {
          pending.then(() => {
            this.handled(cmd);
            this.pump();
          }, (error: unknown) => {
            this.fail(error);
            this.stopPumping();
          });
          return;
        }
        this.handled(cmd);
      }
    } catch (error) {
      this.fail(error);
    }
    this.stopPumping();
  }

  private handled(cmd: MilterCommand): void {
    if (cmd.kind !== 'quit') return;
    this.socket.end();
    this.ended = true;
  }

  private stopPumping(): void {
    this.pumping = false;
    if (this.socket.isPaused() && !this.ended) this.socket.resume();
  }

  private write(bytes: Buffer): void {
    if (!this.ended && this.socket.writable) this.socket.write(bytes);
  }

  private fail(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    const typed = error instanceof FloodgateError ? error : new FloodgateError('FG_ERR_COMMAND', String(error));
    this.events.protocolError(this.id, typed);
    this.socket.destroy();
  }

  private clearFrameDeadline(): void {
    clearTimeout(this.frameDeadline);
    this.frameDeadline = undefined;
  }

  private onClose(): void {
    this.clearFrameDeadline();
    this.ended = true;
    this.queue.length = 0;
    const session = this.session;
    if (session === undefined) return;
    void session.dispose().finally(() => {
      this.session = undefined;
      this.events.closed(this.id);
    });
  }
}
