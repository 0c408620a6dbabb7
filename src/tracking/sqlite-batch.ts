// A batch of tracking records as the rows of one insertTree call (libsql-connection.ts): each
// record's columns, then the keys of its recipients and of its rules, which the thread gathers
// with their record's rowid and inserts with one statement each for the whole batch.
//
// Values are bound as parameters, never written into SQL text, which is what keeps a hostile HELO or
// sender from becoming SQL. The batch crosses to the database's thread as one UTF-8 text, made of
// parts encoded as records arrive (tracking-writer.ts): JSON was the cheapest hand-over measured
// (structured clone of the rows cost the event loop twice as much), and bytes outside the heap are
// nothing the garbage collector copies. NUL becomes U+FFFD (withoutNul): libsql reads text back only
// up to one.
import { withoutNul } from './record-check';
import { RECORD_COLUMNS, recordValues } from './sqlite-rows';
import type { TrackingRecord } from './tracking-record';

export const INSERT_RECORD = `INSERT INTO records (${RECORD_COLUMNS.join(', ')}) VALUES (${RECORD_COLUMNS.map((c) => (c === 'client_ip' ? 'unhex(?)' : '?')).join(', ')})`;
// Each takes the batch's [key, time, record id] triples as one JSON array: one statement run for
// all of them costs libsql's thread ~5 µs a row against ~8 for a run of its own.
// OR IGNORE: a recipient given twice, or a rule, is one key; a repeat must not fail the whole batch.
export const INSERT_BY_RECIPIENT = 'INSERT OR IGNORE INTO by_recipient (address, time, record_id) SELECT value->>0, value->>1, value->>2 FROM json_each(?)';
export const INSERT_BY_RULE = 'INSERT OR IGNORE INTO by_rule (rule, time, record_id) SELECT value->>0, value->>1, value->>2 FROM json_each(?)';

/** One record's rows: its columns (INSERT_RECORD), its recipients' keys and its rules' (INSERT_BY_RECIPIENT, INSERT_BY_RULE), each [key, time]. */
export type RecordRows = [(string | number | null)[], [string, number][], [string, number][]];

/**
 * A record's rows, the keys without their record's id, which the insert supplies.
 * RangeError for a record no store could hold.
 */
export function recordRows(record: TrackingRecord): RecordRows {
  const time = record.time;
  return [
    recordValues(record),
    record.recipients.map((r) => [r.address, time]),
    record.rules.map((rule) => [rule, time]),
  ];
}

/**
 * The records' rows as the lines insertTree reads, two a record: the JSON of its rows without the
 * detail, then the detail's JSON text as it is bound. The detail is never JSON inside JSON: writing
 * it escaped into the batch and reading it back cost the event loop twice and the thread a parse.
 * JSON text never holds a raw line feed (JSON.stringify escapes every control character), so a line
 * feed ends each. NUL replaced; RangeError (before anything is sent) for a record no store could hold.
 */
export function batchLines(records: readonly TrackingRecord[]): string {
  const text = linesOf(records);
  // JSON writes NUL as \u0000: one search of the text instead of a walk of every record. A client's
  // literal "\u0000" text matches too, and is then cleaned of nothing.
  return text.includes('\\u0000') ? linesOf(records.map(withoutNul)) : text;
}

function linesOf(records: readonly TrackingRecord[]): string {
  let text = '';
  for (const record of records) {
    const [values, recipients, rules] = recordRows(record);
    const detail = values.pop();
    text += `${JSON.stringify([values, recipients, rules])}\n${detail}\n`;
  }
  return text;
}
