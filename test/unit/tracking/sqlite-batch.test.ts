// The SQLite batch as bound rows: a record's columns, then its recipients' and rules' keys, for one insertTree call.
import { batchLines, INSERT_BY_RECIPIENT, INSERT_BY_RULE, INSERT_RECORD, recordRows, type RecordRows } from '../../../src/tracking/sqlite-batch';
import { RECORD_COLUMNS, recordFromRow } from '../../../src/tracking/sqlite-rows';
import type { TrackingRecord } from '../../../src/tracking/tracking-record';
import { fullRecord } from './tracking-behaviour';

const column = (rows: RecordRows, name: (typeof RECORD_COLUMNS)[number]): unknown => rows[0][RECORD_COLUMNS.indexOf(name)];
const detail = (rows: RecordRows): Record<string, unknown> => JSON.parse(column(rows, 'detail') as string) as Record<string, unknown>;

test('the record statement has one placeholder per column; the key statements one, for the whole batch', () => {
  const placeholders = (sql: string): number => sql.split('?').length - 1;
  const [record] = recordRows(fullRecord());
  expect(placeholders(INSERT_RECORD)).toBe(RECORD_COLUMNS.length);
  expect(record).toHaveLength(RECORD_COLUMNS.length);
  expect(placeholders(INSERT_BY_RECIPIENT)).toBe(1);
  expect(placeholders(INSERT_BY_RULE)).toBe(1);
});

test('the client IP travels as its 16-byte key in hex, and the insert turns it back into bytes', () => {
  expect(column(recordRows(fullRecord({ clientIp: '192.0.2.10' })), 'client_ip')).toBe('00000000000000000000ffffc000020a');
  expect(column(recordRows(fullRecord({ clientIp: undefined })), 'client_ip')).toBeNull();
  expect(INSERT_RECORD).toContain('unhex(?)');
});

test('what find filters on has a column; the rest is the detail, without undefined fields', () => {
  const record = fullRecord({ authUser: undefined, subject: undefined });
  const rows = recordRows(record);
  expect(rows[0].slice(0, 5)).toEqual([record.time, record.queueId, '00000000000000000000ffffc000020a', record.sender, record.answer]);
  const { time, queueId, clientIp, sender, answer, authUser, subject, ...rest } = record;
  expect(detail(rows)).toEqual(rest);
  expect(Object.keys(detail(rows))).not.toContain('authUser');
  // A field the store does not know is not stored by accident.
  expect(detail(recordRows({ ...record, secret: 'x' } as TrackingRecord))).not.toHaveProperty('secret');
});

test('recipients and rules are keys with the record time, in order', () => {
  const record = fullRecord();
  const [, recipients, rules] = recordRows(record);
  expect(recipients).toEqual([['anne@customer.example', record.time], ['bob@customer.example', record.time]]);
  expect(rules).toEqual([['count-connections', record.time], ['sender-rate', record.time]]);
  expect(recordRows(fullRecord({ recipients: [], rules: [] })).slice(1)).toEqual([[], []]);
});

test('a row reads back as the record, with its id; an absent column stays absent', () => {
  const record = fullRecord({ queueId: undefined, sender: undefined });
  const [values] = recordRows(record);
  const row: Record<string, unknown> = Object.fromEntries(RECORD_COLUMNS.map((name, i) => [name, values[i]]));
  row.client_ip = Buffer.from(row.client_ip as string, 'hex');
  const back = recordFromRow({ ...row, id: 7 });
  expect(back).toEqual({ ...record, id: 7 });
  expect(back).not.toHaveProperty('queueId');
  expect(back).not.toHaveProperty('sender');
});

/** The rows as the thread reads them: two lines a record, the second the detail, appended to the values. */
function sentRows(records: readonly TrackingRecord[]): RecordRows[] {
  const lines = batchLines(records).split('\n');
  expect(lines.pop()).toBe('');
  const rows: RecordRows[] = [];
  for (let i = 0; i < lines.length; i += 2) {
    const row = JSON.parse(lines[i]) as RecordRows;
    row[0].push(lines[i + 1]);
    rows.push(row);
  }
  return rows;
}

test('the batch is two lines a record, the detail bound as it was written; values a client chose stay values; NUL becomes U+FFFD', () => {
  const hostile = "x'); DROP TABLE records; --\nINSERT";
  const records = [fullRecord({ helo: hostile, sender: 'a\nb' }), fullRecord({ subject: 'a\0b', recipients: [{ address: "o'\0@example.org", answer: 'accepted' }] })];
  expect(batchLines(records).split('\n')).toHaveLength(5);
  const [first, second] = sentRows(records);
  expect(first).toEqual(recordRows(records[0]));
  expect(detail(first).helo).toBe(hostile);
  expect(column(first, 'sender')).toBe('a\nb');
  expect(detail(second).subject).toBe('a\ufffdb');
  expect(second[1][0][0]).toBe("o'\ufffd@example.org");
  expect((detail(second).recipients as { address: string }[])[0].address).toBe("o'\ufffd@example.org");
  // A client's literal backslash-u0000 text is kept as it was.
  expect(detail(sentRows([fullRecord({ helo: '\\u0000' })])[0]).helo).toBe('\\u0000');
});

test('a record no store could hold is a RangeError before anything is sent', () => {
  expect(() => batchLines([fullRecord(), fullRecord({ clientIp: '300.1.1.1' })])).toThrow(/client IP "300.1.1.1" is not an IP address/);
  expect(() => batchLines([fullRecord({ delayMs: -1 })])).toThrow(/delay -1 ms/);
  expect(() => batchLines([fullRecord({ size: 1.5 })])).toThrow(/size 1.5/);
});
