// Reassembles milter packets from a byte stream: several per chunk, or one split over many chunks.
import { DEFAULT_MAX_INCOMING_FRAME } from './constants';
import { MilterProtocolError } from './errors';

/** One packet without its length prefix: `payload[0]` is the command byte. */
export type Frame = Buffer;

const HEADER_BYTES = 4;

export class FrameDecoder {
  private chunks: Buffer[] = [];
  /** Bytes of chunks[0] already taken: packets are cut from it by offset, not by re-slicing it each time. */
  private offset = 0;
  private buffered = 0;

  /** @param maxFrame largest accepted `len` (command byte included); bounds memory per connection. */
  constructor(private readonly maxFrame: number = DEFAULT_MAX_INCOMING_FRAME) {}

  /** True while part of a packet is waiting for more bytes (what a mid-frame deadline watches). */
  get hasPartialFrame(): boolean {
    return this.buffered > 0;
  }

  /**
   * Appends a chunk and hands each packet it completes to `onFrame`, in order. Throws
   * MilterProtocolError as soon as a header announces a length of zero or above the limit, before
   * buffering the announced payload (the packets before it have been handed on). A callback rather
   * than a list: a list per chunk, nearly always of one packet, was an allocation per packet.
   */
  push(chunk: Buffer, onFrame: (frame: Frame) => void): void {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    while (this.buffered >= HEADER_BYTES) {
      if (this.chunks[0]!.length - this.offset < HEADER_BYTES) this.flatten();
      const first = this.chunks[0]!;
      const len = first.readUInt32BE(this.offset);
      if (len === 0) throw new MilterProtocolError('FG_ERR_FRAME', 'packet length 0 (a packet holds at least its command byte)');
      if (len > this.maxFrame) {
        throw new MilterProtocolError('FG_ERR_FRAME', `packet length ${len} exceeds the limit of ${this.maxFrame} bytes`);
      }
      if (this.buffered < HEADER_BYTES + len) break;
      onFrame(this.take(HEADER_BYTES + len));
    }
  }

  /** Joins what is buffered into one chunk (a packet or its header spans chunks). */
  private flatten(): void {
    const first = this.chunks[0]!;
    this.chunks = [Buffer.concat([first.subarray(this.offset), ...this.chunks.slice(1)], this.buffered)];
    this.offset = 0;
  }

  /** Removes a whole packet of n bytes from the front and returns it without its length; copies only when it spans chunks. */
  private take(n: number): Frame {
    if (this.chunks[0]!.length - this.offset < n) this.flatten();
    const first = this.chunks[0]!;
    const frame = first.subarray(this.offset + HEADER_BYTES, this.offset + n);
    this.offset += n;
    if (this.offset === first.length) {
      this.chunks.shift();
      this.offset = 0;
    }
    this.buffered -= n;
    return frame;
  }
}

/** Wraps a payload (command or reply byte first) in its 4-byte big-endian length prefix. */
export function encodeFrame(code: number, data?: Buffer): Buffer {
  const dataLength = data ? data.length : 0;
  const out = Buffer.allocUnsafe(HEADER_BYTES + 1 + dataLength);
  out.writeUInt32BE(1 + dataLength, 0);
  out[HEADER_BYTES] = code;
  if (data) data.copy(out, HEADER_BYTES + 1);
  return out;
}
