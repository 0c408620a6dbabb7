// How LevelStore lays scores out in LevelDB: key namespaces, the expiry index, and the record encoding.
//
//   m!format                          -> '1'           layout version, checked on open
//   s!<key>                           -> [score, updatedAt, halfLifeMs, expiresAt] as JSON
//   x!<expiresAt, 15 digits>!<key>    -> ''            expiry index: sweep() walks it in time order
//
// The record and its index entry are always written and deleted in the same batch, so they never
// disagree on disk. Zero-padding makes byte order equal numeric order (MAX_EXPIRES_AT has 15 digits).
import { MAX_EXPIRES_AT, type StoredScore } from './decay';
import { StoreError } from './errors';

export const FORMAT_KEY = 'm!format';
export const FORMAT_VERSION = '1';

export const RECORD_PREFIX = 's!';
/** The first key after every `s!` key ('"' follows '!'). */
export const RECORD_END = 's"';
export const INDEX_PREFIX = 'x!';
export const INDEX_END = 'x"';

const EXPIRY_DIGITS = 15;

export function recordKey(key: string): string {
  return RECORD_PREFIX + key;
}

export function indexKey(expiresAt: number, key: string): string {
  return INDEX_PREFIX + String(expiresAt).padStart(EXPIRY_DIGITS, '0') + '!' + key;
}

/** The store key an index entry points at (its expiry is not needed: the record is re-read under lock). */
export function keyOfIndexEntry(entry: string): string {
  return entry.slice(INDEX_PREFIX.length + EXPIRY_DIGITS + 1);
}

/** The first index key after every entry expiring at or before `now`. */
export function indexEndFor(now: number): string {
  const after = Math.floor(now) + 1;
  return after > MAX_EXPIRES_AT ? INDEX_END : INDEX_PREFIX + String(after).padStart(EXPIRY_DIGITS, '0');
}

export function encodeStored(stored: StoredScore): string {
  // JSON prints doubles so that they parse back bit for bit, so decay stays exact across a restart.
  return JSON.stringify([stored.score, stored.updatedAt, stored.halfLifeMs, stored.expiresAt]);
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
