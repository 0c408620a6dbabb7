// What a tracking record must be before any store writes it: the checks both stores share, and the one change they make.
import { normaliseIp } from '../net/normalise';
import type { TrackingRecord } from './tracking-record';

/**
 * RangeError, naming the record's session, for a record no store could hold: a bug in the recorder,
 * not an outage (the client IP comes from normaliseIp, times from the clock). Returns the client IP
 * in the canonical form the stores keep, so that the check's normaliseIp is the only one.
 */
export function checkRecord(record: TrackingRecord): { canonicalIp: string | undefined } {
  const problem = (what: string): RangeError => new RangeError(`tracking record ${record.session}: ${what}`);
  if (!Number.isSafeInteger(record.time) || record.time < 0) throw problem(`time ${record.time} is not a time in ms`);
  const canonicalIp = record.clientIp === undefined ? undefined : normaliseIp(record.clientIp);
  if (record.clientIp !== undefined && canonicalIp === undefined) throw problem(`client IP "${record.clientIp}" is not an IP address`);
  if (!Number.isSafeInteger(record.delayMs) || record.delayMs < 0) throw problem(`delay ${record.delayMs} ms is not a whole number of ms`);
  if (record.size !== undefined && (!Number.isSafeInteger(record.size) || record.size < 0)) throw problem(`size ${record.size} is not a byte count`);
  for (const key of record.keys) if (!Number.isFinite(key.score)) throw problem(`key ${key.key} has the score ${key.score}`);
  return { canonicalIp };
}

/**
 * The record with every NUL in its strings as U+FFFD. PostgreSQL's text (and jsonb's \u0000) cannot
 * hold NUL and libsql reads text only up to one; a NUL in a decoded Subject or attachment name must
 * not cost the whole batch, nor come back cut short.
 */
export function withoutNul(record: TrackingRecord): TrackingRecord {
  // Walked rather than JSON.stringify'd to look: the check runs for every record, on the event loop.
  if (!holdsNul(record)) return record;
  const clean = (value: unknown): unknown => {
    if (typeof value === 'string') return value.replace(/\0/g, '\ufffd');
    if (Array.isArray(value)) return value.map(clean);
    if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, clean(v)]));
    return value;
  };
  return clean(record) as TrackingRecord;
}

/** Whether any string in the value, keys of objects included, holds a NUL. */
function holdsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\0');
  if (Array.isArray(value)) return value.some(holdsNul);
  if (value !== null && typeof value === 'object') {
    for (const key in value) if (key.includes('\0') || holdsNul((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}
