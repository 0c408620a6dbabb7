// Seeded mutations of captured milter conversations (the wire fuzzer's input), reproducible from a seed.

/** mulberry32: a small, fast, seeded PRNG; the same seed gives the same conversations everywhere. */
export class Prng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

/** The length field values the issue names: empty, command byte only, and the two sign/size edges. */
export const EDGE_LENGTHS = [0, 1, 2 ** 31, 2 ** 32 - 1] as const;

export type MutationKind = 'bit-flip' | 'truncate' | 'splice' | 'edge-length' | 'drop' | 'duplicate' | 'swap' | 'garbage-packet' | 'command-byte';
export const MUTATION_KINDS: readonly MutationKind[] = ['bit-flip', 'truncate', 'splice', 'edge-length', 'drop', 'duplicate', 'swap', 'garbage-packet', 'command-byte'];

/** Command letters, valid and not, that a replaced command byte takes. */
const COMMAND_BYTES = Buffer.from('ABCDEHKLMNOQRTUZ\0\xff', 'latin1');

export interface Mutated {
  /** The frames to send (some may no longer be well-formed frames). */
  packets: Buffer[];
  /** What was done, for the failure message. */
  applied: MutationKind[];
}

/**
 * One to three mutations of `packets`. `other` is a second conversation for splicing. The input
 * is never modified.
 */
export function mutate(rng: Prng, packets: readonly Buffer[], other: readonly Buffer[]): Mutated {
  let out: Buffer[] = packets.map((p) => Buffer.from(p));
  const applied: MutationKind[] = [];
  for (let n = 1 + rng.int(3); n > 0; n--) {
    const kind = rng.pick(MUTATION_KINDS);
    applied.push(kind);
    out = apply(kind, rng, out, other);
  }
  return { packets: out, applied };
}

function apply(kind: MutationKind, rng: Prng, packets: Buffer[], other: readonly Buffer[]): Buffer[] {
  if (packets.length === 0) return [garbage(rng)];
  const i = rng.int(packets.length);
  switch (kind) {
    case 'bit-flip': {
      const p = packets[i];
      if (p.length > 0) {
        const at = rng.int(p.length);
        p[at] ^= 1 << rng.int(8);
      }
      return packets;
    }
    case 'truncate': {
      const stream = Buffer.concat(packets);
      return [stream.subarray(0, rng.int(stream.length))];
    }
    case 'splice':
      return [...packets.slice(0, i), ...other.slice(rng.int(Math.max(1, other.length))).map((p) => Buffer.from(p))];
    case 'edge-length': {
      const p = packets[i];
      if (p.length >= 4) p.writeUInt32BE(rng.pick(EDGE_LENGTHS), 0);
      return packets;
    }
    case 'drop':
      return packets.filter((_, j) => j !== i);
    case 'duplicate':
      return [...packets.slice(0, i + 1), Buffer.from(packets[i]), ...packets.slice(i + 1)];
    case 'swap': {
      const j = rng.int(packets.length);
      [packets[i], packets[j]] = [packets[j], packets[i]];
      return packets;
    }
    case 'garbage-packet':
      return [...packets.slice(0, i), garbage(rng), ...packets.slice(i)];
    case 'command-byte': {
      const p = packets[i];
      if (p.length >= 5) p[4] = rng.pick([...COMMAND_BYTES]);
      return packets;
    }
  }
}

/** A frame with a correct length and random contents, 0 to 64 data bytes. */
function garbage(rng: Prng): Buffer {
  const data = Buffer.alloc(1 + rng.int(65));
  for (let k = 0; k < data.length; k++) data[k] = rng.int(256);
  const frame = Buffer.alloc(4 + data.length);
  frame.writeUInt32BE(data.length, 0);
  data.copy(frame, 4);
  return frame;
}

/**
 * Walks the stream as the server's frame decoder does, up to the first QUIT: true when it meets a
 * length the server must refuse (zero, or over `maxFrameBytes`) there. Such a conversation must
 * cost the server exactly one protocol-error log line.
 */
export function hasBadLengthBeforeQuit(stream: Buffer, maxFrameBytes: number): boolean {
  let at = 0;
  while (stream.length - at >= 4) {
    const length = stream.readUInt32BE(at);
    if (length === 0 || length > maxFrameBytes) return true;
    if (stream.length - at - 4 < length) return false; // cut short: the server waits for the rest
    if (stream[at + 4] === 0x51) return false; // SMFIC_QUIT: the server closes here
    at += 4 + length;
  }
  return false;
}
