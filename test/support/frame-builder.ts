// Builds milter packets from readable parts, independently of src/milter, so test fixtures are not circular.

/** One part of a packet: already-encoded bytes. */
export type Part = Buffer;

/** A NUL-terminated string (latin1, so every char code below 256 is one byte). */
export function cstr(text: string): Part {
  return Buffer.concat([Buffer.from(text, 'latin1'), Buffer.from([0])]);
}

/** A string without terminator (for deliberately malformed packets). */
export function str(text: string): Part {
  return Buffer.from(text, 'latin1');
}

export function byte(value: number): Part {
  if (!Number.isInteger(value) || value < 0 || value > 0xff) throw new RangeError(`byte ${value}`);
  return Buffer.from([value]);
}

/** Big-endian uint16, as the CONNECT port. */
export function u16(value: number): Part {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new RangeError(`u16 ${value}`);
  return Buffer.from([value >>> 8, value & 0xff]);
}

/** Big-endian uint32, as lengths, flags and header indexes. */
export function u32(value: number): Part {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`u32 ${value}`);
  return Buffer.from([(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff]);
}

/** Raw bytes: a Buffer, a byte list, or a latin1 string. */
export function raw(bytes: Buffer | readonly number[] | string): Part {
  if (typeof bytes === 'string') return Buffer.from(bytes, 'latin1');
  return Buffer.from(bytes as readonly number[]);
}

/** Bytes written as hex pairs with optional spaces, as in the protocol reference: `hex('00 00 00 01 63')`. */
export function hex(text: string): Buffer {
  const digits = text.replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(digits)) throw new Error(`not hex: ${text}`);
  return Buffer.from(digits, 'hex');
}

function codeByte(code: string | number): number {
  if (typeof code === 'number') return code;
  if (code.length !== 1) throw new Error(`command must be one character: ${JSON.stringify(code)}`);
  return code.charCodeAt(0);
}

/** A packet without its length prefix (what decodeCommand takes): command byte, then the parts. */
export function payload(code: string | number, ...parts: Part[]): Buffer {
  return Buffer.concat([Buffer.from([codeByte(code)]), ...parts]);
}

/** A whole packet on the wire: uint32 length (command byte included), command byte, parts. */
export function frame(code: string | number, ...parts: Part[]): Buffer {
  const body = payload(code, ...parts);
  return Buffer.concat([u32(body.length), body]);
}

/** A packet whose length prefix says whatever the test wants (zero, oversize, too short). */
export function frameWithLength(length: number, ...parts: Part[]): Buffer {
  return Buffer.concat([u32(length), ...parts]);
}

/** `hex()`'s inverse for readable failure messages: `00 00 00 01 63`. */
export function toHex(bytes: Buffer): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}
