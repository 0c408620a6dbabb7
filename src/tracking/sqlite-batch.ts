// A batch of tracking records as the parts that cross to the database's thread (libsql-connection.ts),
// which reads each record's columns, recipients' keys and rules' keys from them (sqlite-part-rows.js)
// and inserts the keys with one statement each for the whole batch.
//
// Values are bound as parameters, never written into SQL text, which is what keeps a hostile HELO or
// sender from becoming SQL. A part is encoded as records arrive (tracking-writer.ts) and crosses as
// UTF-8 bytes outside the heap, which the garbage collector never copies. The event loop does the
// least for a record that was measured: check it, take its client IP's key, and serialise it with
// the others of its part in one JSON.stringify; the thread builds the rows. At the peak on 2 cores,
// side by side with the build that made each record's detail and rows here (10 rounds): the event
// loop 2.7 µs a session less, the thread 10 µs a record more, sessions/s with tracking on +6.1 %
// (the event loop's time is what sessions/s follow). NUL becomes U+FFFD (withoutNul): libsql reads
// text back only up to one.
import { canonicalIpKeyHex } from './ip-key';
import { checkRecord, withoutNul } from './record-check';
import { RECORD_COLUMNS } from './sqlite-part-rows';
import type { TrackingRecord } from './tracking-record';

/**
 * The detail is the record's JSON without what has a column of its own (or is the row's id): SQLite
 * cuts those out, ~1.8 µs of the thread a record for ~125 bytes less of it on disk.
 */
const COLUMN_FIELDS = ['id', 'time', 'queueId', 'clientIp', 'sender', 'answer'] as const satisfies readonly (keyof TrackingRecord)[];
const PLACEHOLDERS: Record<(typeof RECORD_COLUMNS)[number], string> = {
  time: '?', queue_id: '?', client_ip: 'unhex(?)', sender: '?', answer: '?',
  detail: `json_remove(?, ${COLUMN_FIELDS.map((field) => `'$.${field}'`).join(', ')})`,
};
export const INSERT_RECORD = `INSERT INTO records (${RECORD_COLUMNS.join(', ')}) VALUES (${RECORD_COLUMNS.map((c) => PLACEHOLDERS[c]).join(', ')})`;
// Each takes the batch's [key, time, record id] triples as one JSON array: one statement run for
// all of them costs libsql's thread ~5 µs a row against ~8 for a run of its own.
// OR IGNORE: a recipient given twice, or a rule, is one key; a repeat must not fail the whole batch.
export const INSERT_BY_RECIPIENT = 'INSERT OR IGNORE INTO by_recipient (address, time, record_id) SELECT value->>0, value->>1, value->>2 FROM json_each(?)';
export const INSERT_BY_RULE = 'INSERT OR IGNORE INTO by_rule (rule, time, record_id) SELECT value->>0, value->>1, value->>2 FROM json_each(?)';

/**
 * The records as one part, two lines (sqlite-part-rows.js reads them): the JSON array of their
 * client IP keys in hex (null for none), then the JSON array of the records. JSON text never holds
 * a raw line feed (JSON.stringify escapes every control character), so a line feed ends each.
 * RangeError, before anything is sent, for a record no store could hold.
 */
export function batchPart(records: readonly TrackingRecord[]): string {
  const text = partOf(records);
  // JSON writes NUL as \u0000: one search of the text instead of a walk of every record. A client's
  // literal "\u0000" text matches too, and is then cleaned of nothing.
  return text.includes('\\u0000') ? partOf(records.map(withoutNul)) : text;
}

function partOf(records: readonly TrackingRecord[]): string {
  return `${JSON.stringify(records.map(clientIpKey))}\n${JSON.stringify(records)}\n`;
}

/** The record's client IP as the 16-byte key the table holds, in hex; the record checked first (RangeError). */
function clientIpKey(record: TrackingRecord): string | null {
  const { canonicalIp } = checkRecord(record);
  return canonicalIp === undefined ? null : canonicalIpKeyHex(canonicalIp);
}
