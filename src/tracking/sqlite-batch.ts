// A batch of tracking records as one SQL script (one transaction), so that libsql runs all of it off the event loop.
//
// libsql binds parameters only on its synchronous path; its asynchronous exec() takes SQL text. So
// every value is written as a literal here, through sqlLiteral alone, which is what keeps a hostile
// HELO or sender from becoming SQL: strings are quoted with '' doubled (SQLite has no backslash
// escapes), numbers must be finite, bytes are hex. NUL, which would end the SQL text (a C string),
// is U+FFFD by then (withoutNul), and sqlLiteral refuses one that reaches it.
import { withoutNul } from './record-check';
import { RECORD_COLUMNS, recordValues, type SqlValue } from './sqlite-rows';
import type { TrackingRecord } from './tracking-record';

const INSERT_RECORD = `INSERT INTO records (${RECORD_COLUMNS.join(', ')}) VALUES`;
const INSERT_RECIPIENTS = 'INSERT INTO recipients (record_id, position, address, answer, reply, time) VALUES';
// OR IGNORE: a record's rules are meant to be without repeats; a repeat must not fail the whole batch.
const INSERT_RULES = 'INSERT OR IGNORE INTO record_rules (record_id, rule, time) VALUES';

/**
 * BEGIN, each record and its children, COMMIT. Children take their record's id from
 * last_insert_rowid(), which inserts into the WITHOUT ROWID child tables leave alone.
 * RangeError (before any SQL runs) for a record no store could hold.
 */
export function batchScript(records: readonly TrackingRecord[]): string {
  const lines = ['BEGIN;'];
  for (const record of records.map(withoutNul)) {
    lines.push(`${INSERT_RECORD} (${recordValues(record).map(sqlLiteral).join(', ')});`);
    const time = sqlLiteral(record.time);
    if (record.recipients.length > 0) {
      const rows = record.recipients.map((r, i) => `(last_insert_rowid(), ${i}, ${sqlLiteral(r.address)}, ${sqlLiteral(r.answer)}, ${sqlLiteral(r.reply ?? null)}, ${time})`);
      lines.push(`${INSERT_RECIPIENTS} ${rows.join(', ')};`);
    }
    if (record.rules.length > 0) {
      lines.push(`${INSERT_RULES} ${record.rules.map((rule) => `(last_insert_rowid(), ${sqlLiteral(rule)}, ${time})`).join(', ')};`);
    }
  }
  lines.push('COMMIT;');
  return lines.join('\n');
}

export function sqlLiteral(value: SqlValue): string {
  if (value === null) return 'NULL';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RangeError(`tracking record: ${value} is not a number SQLite can store`);
    return String(value);
  }
  if (typeof value === 'string') {
    if (value.includes('\0')) throw new RangeError('tracking record: a string with NUL reached the SQL text');
    // The plain case without a regex: most values have no quote.
    return `'${value.includes("'") ? value.replace(/'/g, "''") : value}'`;
  }
  return `X'${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}'`;
}
