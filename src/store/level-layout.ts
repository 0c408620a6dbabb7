// How LevelStore lays scores out in LevelDB: key namespaces, the expiry index, and the record encoding.
//
//   m!format                          -> '2'           layout version, checked on open
//   s!<key>                           -> [score, updatedAt, halfLifeMs, expiresAt] as JSON
//   x!<bucket, 15 digits>!<key>       -> '-'           expiry index: sweep() walks it in time order
//
// The index entry's time is the record's expiry rounded down to 10 s (its bucket), not the expiry
// itself: an update moves a busy key's expiry on by a few ms each time, and with exact times every
// written update had to delete the old entry and write a new one; with buckets that happens once per
// 10 s per busy key. The bucket is never after the expiry, so a sweep at `now` still finds every
// expired record; it re-checks each record it visits, since those of the last 10 s may not have
// expired yet (wider buckets would make each sweep re-read more of them for little gain).
// The record and its index entry are always written and deleted in the same batch, so they never
// disagree on disk. Zero-padding makes byte order equal numeric order (MAX_EXPIRES_AT has 15 digits).
// Version 1 indexed exact expiry times; level-format.ts rewrites such an index once, on open.
// Index entries written before the fix of issue 21 have the value '' instead of '-'; nothing reads it.
import { MAX_EXPIRES_AT, type StoredScore } from './decay';
import { StoreError } from './errors';

/** One write of a LevelDB batch: every change LevelStore makes on disk goes through db.batch(). */
export type BatchOp = { type: 'put'; key: string; value: string } | { type: 'del'; key: string };

export const FORMAT_KEY = 'm!format';
export const FORMAT_VERSION = '2';

/** Width of an expiry bucket; see above. */
export const EXPIRY_BUCKET_MS = 10_000;

export const RECORD_PREFIX = 's!';
/** The first key after every `s!` key ('"' follows '!'). */
export const RECORD_END = 's"';
export const INDEX_PREFIX = 'x!';
export const INDEX_END = 'x"';

const EXPIRY_DIGITS = 15;

/**
 * The value of every index entry (only its key means anything). Never '': classic-level 3.0.0 copies
 * each string of a batch into a buffer it frees only when the string is not empty, so every empty
 * value leaked one heap chunk, 32 bytes with glibc: ~12 MB a minute under a flood of new keys (issue 21).
 */
export const INDEX_VALUE = '-';

export function recordKey(key: string): string {
  return RECORD_PREFIX + key;
}

/** The start of the bucket a record expiring at `expiresAt` is indexed under. */
export function expiryBucket(expiresAt: number): number {
  return Math.floor(expiresAt / EXPIRY_BUCKET_MS) * EXPIRY_BUCKET_MS;
}

/** The index entry of `key` in the bucket starting at `bucket` (see expiryBucket). */
export function indexKey(bucket: number, key: string): string {
  return INDEX_PREFIX + String(bucket).padStart(EXPIRY_DIGITS, '0') + '!' + key;
}

/** The time an index entry is filed under (an exact expiry in version 1, a bucket since). */
export function timeOfIndexEntry(entry: string): number {
  return Number(entry.slice(INDEX_PREFIX.length, INDEX_PREFIX.length + EXPIRY_DIGITS));
}

/** The store key an index entry points at (its time is not needed: sweep() re-checks the record). */
export function keyOfIndexEntry(entry: string): string {
  return entry.slice(INDEX_PREFIX.length + EXPIRY_DIGITS + 1);
}

/** The first index key after every entry expiring at or before `now`. */
export function indexEndFor(now: number): string {
  const after = Math.floor(now) + 1;
  return after > MAX_EXPIRES_AT ? INDEX_END : INDEX_PREFIX + String(after).padStart(EXPIRY_DIGITS, '0');
}

export function encodeStored(stored: StoredScore): string {
  // The JSON array JSON.stringify would print, without building the array: numbers print (in both) so
  // that they parse back bit for bit, so decay stays exact across a restart; all four are finite.
  return `[${stored.score},${stored.updatedAt},${stored.halfLifeMs},${stored.expiresAt}]`;
}

export function decodeStored(key: string, text: string): StoredScore {
  let fields: unknown;
  try {
    fields = JSON.parse(text);
  } catch {
    fields = undefined;
  }
  if (!Array.isArray(fields) || fields.length !== 4 || !fields.every((f) => typeof f === 'number' && Number.isFinite(f))) {
    throw new StoreError(`score store: the record of ${JSON.stringify(key)} is corrupt: ${JSON.stringify(text.slice(0, 80))}`);
  }
  const [score, updatedAt, halfLifeMs, expiresAt] = fields as number[];
  return { score: score!, updatedAt: updatedAt!, halfLifeMs: halfLifeMs!, expiresAt: expiresAt! };
}
