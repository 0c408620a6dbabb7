// Reassembles milter packets from a byte stream: several per chunk, or one split over many chunks.
import { DEFAULT_MAX_INCOMING_FRAME } from './constants';
import { MilterProtocolError } from './errors';

/** One packet without its length prefix: `payload[0]` is the command byte. */
export type Frame = Buffer;

const HEADER_BYTES = 4;

export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** @param maxFrame largest accepted `len` (command byte included); bounds memory per connection. */
  constructor(private readonly maxFrame: number = DEFAULT_MAX_INCOMING_FRAME) {}

  /** True while part of a packet is waiting for more bytes (what a mid-frame deadline watches). */
  get hasPartialFrame(): boolean {
    return this.buffered > 0;
  }

  /**
   * Appends a chunk and returns every packet it completes. Throws MilterProtocolError as soon as a
   * header announces a length of zero or above the limit, before buffering the announced payload.
   */
  push(chunk: Buffer): Frame[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (this.buffered < HEADER_BYTES) break;
      const len = this.peekLength();
      if (len === 0) throw new MilterProtocolError('FG_ERR_FRAME', 'packet length 0 (a packet holds at least its command byte)');
      if (len > this.maxFrame) {
        throw new MilterProtocolError('FG_ERR_FRAME', `packet length ${len} exceeds the limit of ${this.maxFrame} bytes`);
      }
      if (this.buffered < HEADER_BYTES + len) break;
      frames.push(this.take(HEADER_BYTES + len).subarray(HEADER_BYTES));
    }
    return frames;
  }

  private peekLength(): number {
    const first = this.chunks[0];
    if (first.length >= HEADER_BYTES) return first.readUInt32BE(0);
    return this.flatten().readUInt32BE(0);
  }

  private flatten(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
    return this.chunks[0];
  }

  /** Removes n bytes from the front; the common case (the packet lies in the first chunk) copies nothing. */
  private take(n: number): Buffer {
    let first = this.chunks[0];
    if (first.length < n) first = this.flatten();
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
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
