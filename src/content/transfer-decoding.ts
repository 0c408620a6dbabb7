// Undoes a part's Content-Transfer-Encoding chunk by chunk, counting the decoded bytes, keeping none.
import { decode as decodeQuotedPrintable } from 'libqp';

/** One part's decoder: `write` returns the decoded bytes of what could be decoded so far. */
export interface TransferDecoder {
  /** Decoded bytes so far. */
  readonly size: number;
  /** A problem word when the encoding was broken ('bad-base64'), else undefined. */
  readonly problem: string | undefined;
  /** Returns the decoded bytes (empty when `decode` was false: only counted). */
  write(chunk: Buffer): Buffer;
  end(): Buffer;
}

const EMPTY = Buffer.alloc(0);

/**
 * A decoder for the encoding named in Content-Transfer-Encoding (lower case). With `decode` false
 * the bytes are only counted: an attachment's size without ever holding its content. Unknown
 * encodings (x-uuencode, garbage) pass through as they are, like 7bit, as mail readers treat them.
 */
export function transferDecoder(encoding: string, decode: boolean): TransferDecoder {
  if (encoding === 'base64') return new Base64Decoder(decode);
  if (encoding === 'quoted-printable') return new QuotedPrintableDecoder(decode);
  return new IdentityDecoder(decode);
}

class IdentityDecoder implements TransferDecoder {
  size = 0;
  readonly problem = undefined;
  constructor(private readonly decode: boolean) {}
  write(chunk: Buffer): Buffer {
    this.size += chunk.length;
    return this.decode ? chunk : EMPTY;
  }
  end(): Buffer {
    return EMPTY;
  }
}

/** Per byte: 1 a base64 digit, 2 the pad '=', 0 line breaks and blanks (skipped), -1 anything else. */
const BASE64_CLASS = (() => {
  const table = new Int8Array(256).fill(-1);
  const digits = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < digits.length; i++) table[digits.charCodeAt(i)] = 1;
  table[0x3d] = 2;
  for (const blank of [0x0d, 0x0a, 0x20, 0x09]) table[blank] = 0;
  return table;
})();

/**
 * Base64 (RFC 2045 6.8). Sizes are counted by classifying each byte (a 40 MB attachment is never
 * decoded); decoding, for text parts, keeps at most 3 digits between chunks. Broken input (foreign
 * bytes, digits after the padding, a lone digit at the end) is decoded as leniently as mail readers
 * do, and reported once as 'bad-base64'.
 */
class Base64Decoder implements TransferDecoder {
  size = 0;
  private bad = false;
  /** Digits since the last complete group of 4. */
  private digits = 0;
  private padded = false;
  /** Digits (and pads) not yet decoded, for decode mode. */
  private carry = '';

  constructor(private readonly decode: boolean) {}

  get problem(): string | undefined {
    return this.bad ? 'bad-base64' : undefined;
  }

  write(chunk: Buffer): Buffer {
    for (let i = 0; i < chunk.length; i++) {
      const kind = BASE64_CLASS[chunk[i]!]!;
      if (kind === 1) {
        if (this.padded) {
          this.bad = true; // data after padding: concatenated base64, decoded on as a new run
          this.padded = false;
        }
        if (++this.digits === 4) {
          this.size += 3;
          this.digits = 0;
        }
      } else if (kind === 2) {
        this.closeGroup();
        this.padded = true;
      } else if (kind < 0) {
        this.bad = true;
      }
    }
    return this.decode ? this.decodeWhole(chunk) : EMPTY;
  }

  end(): Buffer {
    this.closeGroup();
    if (!this.decode || this.carry === '') return EMPTY;
    const rest = Buffer.from(this.carry, 'base64');
    this.carry = '';
    return rest;
  }

  /** A group cut short by a pad or the end: 2 digits make 1 byte, 3 make 2, 1 makes none (broken). */
  private closeGroup(): void {
    if (this.digits === 1) this.bad = true;
    else if (this.digits > 1) this.size += this.digits - 1;
    this.digits = 0;
  }

  private decodeWhole(chunk: Buffer): Buffer {
    let text = this.carry + chunk.toString('latin1').replace(/[^A-Za-z0-9+/=]/g, '');
    // Up to the last pad the groups are complete (a pad closes one); after it, whole groups of 4.
    const lastPad = text.lastIndexOf('=');
    const tailStart = lastPad + 1;
    const whole = tailStart + Math.floor((text.length - tailStart) / 4) * 4;
    this.carry = text.slice(whole);
    text = text.slice(0, whole);
    return text === '' ? EMPTY : Buffer.from(text, 'base64');
  }
}

/** A quoted-printable line longer than this (RFC 2045 allows 76) is decoded without waiting for its end. */
const MAX_QP_TAIL = 1024;

/**
 * Quoted-printable (RFC 2045 6.7) through libqp, whole lines at a time: the unfinished last line of
 * a chunk waits for the next, because an escape or a soft line break may be cut by the chunk
 * boundary and libqp drops blanks at the end of what it is given, as at a line's end.
 */
class QuotedPrintableDecoder implements TransferDecoder {
  size = 0;
  readonly problem = undefined;
  private carry: Buffer = EMPTY;

  constructor(private readonly decode: boolean) {}

  write(chunk: Buffer): Buffer {
    const input = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    let cut = input.lastIndexOf(0x0a) + 1;
    if (input.length - cut > MAX_QP_TAIL) {
      // A hostile endless line: decode all but a trailing escape and the blanks before it.
      cut = input.length;
      const eq = input.lastIndexOf(0x3d);
      if (eq >= input.length - 3) cut = eq;
      while (cut > 0 && (input[cut - 1] === 0x20 || input[cut - 1] === 0x09)) cut--;
    }
    this.carry = Buffer.from(input.subarray(cut)); // a copy: a view would pin the whole chunk
    return this.decodePiece(input.subarray(0, cut));
  }

  end(): Buffer {
    const rest = this.carry;
    this.carry = EMPTY;
    return this.decodePiece(rest);
  }

  private decodePiece(input: Buffer): Buffer {
    if (input.length === 0) return EMPTY;
    const decoded = decodeQuotedPrintable(input);
    this.size += decoded.length;
    return this.decode ? decoded : EMPTY;
  }
}
