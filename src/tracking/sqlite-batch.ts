// A batch of tracking records as the JSON rows of one insertTree call (libsql-connection.ts): each
// record's columns, then its recipients and its rules, each bound after the record's rowid.
//
// Values are bound as parameters, never written into SQL text, which is what keeps a hostile HELO or
// sender from becoming SQL. The batch crosses to the database's thread as one UTF-8 JSON text, made
// of parts encoded as records arrive (tracking-writer.ts): JSON was the cheapest hand-over measured
// (structured clone of the rows cost the event loop twice as much), and bytes outside the heap are
// nothing the garbage collector copies. NUL becomes U+FFFD (withoutNul): libsql reads text back only
// up to one.
import { withoutNul } from './record-check';
import { RECORD_COLUMNS, recordValues, type BatchValue } from './sqlite-rows';
import type { TrackingRecord } from './tracking-record';

export const INSERT_RECORD = `INSERT INTO records (${RECORD_COLUMNS.join(', ')}) VALUES (${RECORD_COLUMNS.map((c) => (c === 'client_ip' ? 'unhex(?)' : '?')).join(', ')})`;
export const INSERT_RECIPIENT = 'INSERT INTO recipients (record_id, position, address, answer, reply, time) VALUES (?, ?, ?, ?, ?, ?)';
// OR IGNORE: a record's rules are meant to be without repeats; a repeat must not fail the whole batch.
export const INSERT_RULE = 'INSERT OR IGNORE INTO record_rules (record_id, rule, time) VALUES (?, ?, ?)';

/** One record's rows: its columns (INSERT_RECORD), its recipients by position (INSERT_RECIPIENT), its rules (INSERT_RULE). */
export type RecordRows = [BatchValue[], (string | number | null)[][], (string | number)[][]];

/**
 * A record's rows, the children without their record's id, which the insert supplies.
 * RangeError for a record no store could hold.
 */
export function recordRows(record: TrackingRecord): RecordRows {
  const time = record.time;
  return [
    recordValues(record),
    record.recipients.map((r, i) => [i, r.address, r.answer, r.reply ?? null, time]),
    record.rules.map((rule) => [rule, time]),
  ];
}

/**
 * The records' rows as JSON array elements, without the brackets, so that a batch can be joined from
 * slices; NUL replaced. RangeError (before anything is sent) for a record no store could hold.
 */
export function rowsJson(records: readonly TrackingRecord[]): string {
  const json = JSON.stringify(records.map(recordRows));
  // JSON writes NUL as \u0000: one search of the batch instead of a walk of every record. A client's
  // literal "\u0000" text matches too, and is then cleaned of nothing.
  const clean = json.includes('\\u0000') ? JSON.stringify(records.map((r) => recordRows(withoutNul(r)))) : json;
  return clean.slice(1, -1);
}
