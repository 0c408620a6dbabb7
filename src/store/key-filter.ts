// A Bloom filter over the keys that may have a record, so LevelStore answers a new key without reading LevelDB.
//
// Why: in a flood most keys are new (each message a new sender, each bot a new IP), and a key that is
// not in memory otherwise costs a round trip through LevelDB's thread pool just to learn it is absent.
// "No" is certain, "maybe" is wrong for ~1 % of absent keys at capacity (10 bits and 7 probes a key),
// and then costs only the read it would have cost anyway. Keys are never removed (a filter cannot
// forget one key); LevelStore makes a fresh filter from the disk once the filter is full.

/** Bits per key at capacity: ~0.8 % false "maybe" with PROBES probes. */
const BITS_PER_KEY = 10;
const PROBES = 7;
/** The smallest filter, 160 KiB: small enough to be free, large enough that a new store does not refill it at once. */
const MIN_CAPACITY = 1 << 17;
/** The largest, 20 MiB, so that memory stays bounded under any number of keys; past it "maybe" just grows likelier. */
const MAX_CAPACITY = 1 << 24;

export class KeyFilter {
  private readonly bits: Uint32Array;
  private readonly size: number;
  /** Keys added since the filter was made. */
  added = 0;

  /** Sized for `capacity` keys; fewer is always fine, more raises the false "maybe" rate. */
  constructor(readonly capacity: number) {
    this.capacity = Math.min(MAX_CAPACITY, Math.max(MIN_CAPACITY, Math.ceil(capacity)));
    this.size = this.capacity * BITS_PER_KEY;
    this.bits = new Uint32Array(Math.ceil(this.size / 32));
  }

  /** True once more keys were added than it was sized for (never for the largest size: a rebuild could not help). */
  get full(): boolean {
    return this.added > this.capacity && this.capacity < MAX_CAPACITY;
  }

  /** Adds the key `text.slice(from)`; a scan of the disk hands in LevelDB keys with their prefix (no slices made). */
  add(text: string, from = 0): void {
    this.added++;
    let h1 = hashKey(text, from);
    const h2 = mix(h1) | 1;
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 >>> 0) % this.size;
      this.bits[bit >>> 5]! |= 1 << (bit & 31);
      h1 = (h1 + h2) | 0;
    }
  }

  /** False: the key was never added. True: it may have been. */
  mayHave(key: string): boolean {
    let h1 = hashKey(key);
    const h2 = mix(h1) | 1;
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 >>> 0) % this.size;
      if ((this.bits[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
      h1 = (h1 + h2) | 0;
    }
    return true;
  }
}

/** FNV-1a over the UTF-16 code units from `from` on, finished with a mix so similar keys spread over the whole range. */
function hashKey(text: string, from = 0): number {
  let h = 0x811c9dc5;
  for (let i = from; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return mix(h);
}

/** MurmurHash3's 32-bit finaliser. */
function mix(value: number): number {
  let h = value;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}
