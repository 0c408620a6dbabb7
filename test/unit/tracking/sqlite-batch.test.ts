// The SQLite batch as bound rows: a record's columns, then its recipients and rules, for one insertTree call.
import { INSERT_RECIPIENT, INSERT_RECORD, INSERT_RULE, recordRows, rowsJson, type RecordRows } from '../../../src/tracking/sqlite-batch';
import { RECORD_COLUMNS } from '../../../src/tracking/sqlite-rows';
import { fullRecord } from './tracking-behaviour';

const column = (rows: RecordRows, name: (typeof RECORD_COLUMNS)[number]): unknown => rows[0][RECORD_COLUMNS.indexOf(name)];

test('each statement has one placeholder per value it is given (children after their record id)', () => {
  const placeholders = (sql: string): number => sql.split('?').length - 1;
  const [record, recipients, rules] = recordRows(fullRecord());
  expect(placeholders(INSERT_RECORD)).toBe(RECORD_COLUMNS.length);
  expect(record).toHaveLength(RECORD_COLUMNS.length);
  expect(placeholders(INSERT_RECIPIENT)).toBe(1 + recipients[0].length);
  expect(placeholders(INSERT_RULE)).toBe(1 + rules[0].length);
});

test('the client IP travels as its 16-byte key in hex, and the insert turns it back into bytes', () => {
  expect(column(recordRows(fullRecord({ clientIp: '192.0.2.10' })), 'client_ip')).toBe('00000000000000000000ffffc000020a');
  expect(column(recordRows(fullRecord({ clientIp: undefined })), 'client_ip')).toBeNull();
  expect(INSERT_RECORD).toContain('unhex(?)');
});

test('recipients by position with their replies, rules in order, both with the record time', () => {
  const record = fullRecord();
  const [, recipients, rules] = recordRows(record);
  expect(recipients).toEqual([
    [0, 'anne@customer.example', 'accepted', null, record.time],
    [1, 'bob@customer.example', 'reject', '550 5.1.1 No such user', record.time],
  ]);
  expect(rules).toEqual([['count-connections', record.time], ['sender-rate', record.time]]);
  expect(recordRows(fullRecord({ recipients: [], rules: [] })).slice(1)).toEqual([[], []]);
});

/** The rows as the store sends them: rowsJson's elements in brackets. */
const batchJson = (records: Parameters<typeof rowsJson>[0]): string => `[${rowsJson(records)}]`;

test('the batch is JSON of each record\'s rows; values a client chose stay values; NUL becomes U+FFFD', () => {
  const hostile = "x'); DROP TABLE records; --";
  const records = [fullRecord({ helo: hostile }), fullRecord({ subject: 'a\0b', recipients: [{ address: "o'\0@example.org", answer: 'accepted' }] })];
  const [first, second] = JSON.parse(batchJson(records)) as RecordRows[];
  expect(first).toEqual(recordRows(records[0]));
  expect(column(first, 'helo')).toBe(hostile);
  expect(column(second, 'subject')).toBe('a\ufffdb');
  expect(second[1][0][1]).toBe("o'\ufffd@example.org");
  // A client's literal backslash-u0000 text is kept as it was.
  expect(column((JSON.parse(batchJson([fullRecord({ helo: '\\u0000' })])) as RecordRows[])[0], 'helo')).toBe('\\u0000');
});

test('a record no store could hold is a RangeError before anything is sent', () => {
  expect(() => batchJson([fullRecord(), fullRecord({ clientIp: '300.1.1.1' })])).toThrow(/client IP "300.1.1.1" is not an IP address/);
  expect(() => batchJson([fullRecord({ delayMs: -1 })])).toThrow(/delay -1 ms/);
  expect(() => batchJson([fullRecord({ size: 1.5 })])).toThrow(/size 1.5/);
});
