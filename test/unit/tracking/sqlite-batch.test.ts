// The SQLite batch: the parts the event loop encodes, and the rows the database's thread reads from them.
import { batchPart, INSERT_BY_RECIPIENT, INSERT_BY_RULE, INSERT_RECORD } from '../../../src/tracking/sqlite-batch';
import { elementTexts, partRows, RECORD_COLUMNS, type RecordRows } from '../../../src/tracking/sqlite-part-rows';
import { recordFromRow } from '../../../src/tracking/sqlite-rows';
import type { TrackingRecord } from '../../../src/tracking/tracking-record';
import { fullRecord } from './tracking-behaviour';

const rowsOf = (...records: TrackingRecord[]): RecordRows[] => partRows(batchPart(records));
const column = (rows: RecordRows, name: (typeof RECORD_COLUMNS)[number]): unknown => rows[0][RECORD_COLUMNS.indexOf(name)];
const detail = (rows: RecordRows): Record<string, unknown> => JSON.parse(column(rows, 'detail') as string) as Record<string, unknown>;
test('the record statement has one placeholder per column; the key statements one, for the whole batch', () => {
  const placeholders = (sql: string): number => sql.split('?').length - 1;
  const [rows] = rowsOf(fullRecord());
  expect(placeholders(INSERT_RECORD)).toBe(RECORD_COLUMNS.length);
  expect(rows[0]).toHaveLength(RECORD_COLUMNS.length);
  expect(placeholders(INSERT_BY_RECIPIENT)).toBe(1);
  expect(placeholders(INSERT_BY_RULE)).toBe(1);
});

test('the client IP travels as its 16-byte key in hex, canonical, and the insert turns it back into bytes', () => {
  expect(column(rowsOf(fullRecord({ clientIp: '192.0.2.10' }))[0], 'client_ip')).toBe('00000000000000000000ffffc000020a');
  expect(column(rowsOf(fullRecord({ clientIp: '::FFFF:192.0.2.10' }))[0], 'client_ip')).toBe('00000000000000000000ffffc000020a');
  expect(column(rowsOf(fullRecord({ clientIp: '2001:DB8::1' }))[0], 'client_ip')).toBe('20010db8000000000000000000000001');
  expect(column(rowsOf(fullRecord({ clientIp: undefined }))[0], 'client_ip')).toBeNull();
  expect(INSERT_RECORD).toContain('unhex(?)');
});

test('what find filters on has a column; the detail is bound as the record was written, and the insert cuts the columns out of it', () => {
  const record = fullRecord({ authUser: undefined, subject: undefined });
  const [rows] = rowsOf(record);
  expect(rows[0].slice(0, 5)).toEqual([record.time, record.queueId, '00000000000000000000ffffc000020a', record.sender, record.answer]);
  expect(column(rows, 'detail')).toBe(JSON.stringify(record));
  expect(Object.keys(detail(rows))).not.toContain('authUser');
  expect(INSERT_RECORD).toContain("json_remove(?, '$.id', '$.time', '$.queueId', '$.clientIp', '$.sender', '$.answer')");
});

test('recipients and rules are keys with the record time, in order, each record its own', () => {
  const record = fullRecord();
  const other = fullRecord({ time: record.time + 1, recipients: [{ address: 'carl@customer.example', answer: 'accepted' }], rules: [] });
  const [[, recipients, rules], [, otherRecipients, otherRules]] = rowsOf(record, other);
  expect(recipients).toEqual([['anne@customer.example', record.time], ['bob@customer.example', record.time]]);
  expect(rules).toEqual([['count-connections', record.time], ['sender-rate', record.time]]);
  expect(otherRecipients).toEqual([['carl@customer.example', record.time + 1]]);
  expect(otherRules).toEqual([]);
});

test('a row reads back as the record, with its id; an absent column stays absent', () => {
  const { time, queueId, clientIp: _clientIp, sender, answer, ...rest } = fullRecord();
  const row = { id: 5, time, queue_id: queueId, client_ip: Buffer.from('00000000000000000000ffffc000020a', 'hex'), sender, answer, detail: JSON.stringify(rest) };
  expect(recordFromRow(row)).toEqual({ ...fullRecord(), id: 5 });
  const back = recordFromRow({ ...row, queue_id: null, sender: null });
  expect(back).not.toHaveProperty('queueId');
  expect(back).not.toHaveProperty('sender');
});

test('parts one after another are read as one batch; a part cut short is an error, not a wrong row', () => {
  const parts = batchPart([fullRecord()]) + batchPart([fullRecord({ session: 'c2' }), fullRecord({ session: 'c3' })]);
  expect(partRows(parts).map((rows) => (JSON.parse(rows[0][5] as string) as TrackingRecord).session)).toEqual(['c1f', 'c2', 'c3']);
  expect(() => partRows(parts.slice(0, parts.indexOf('\n') + 1))).toThrow(/two lines/);
  expect(() => partRows(`["00"]\n${JSON.stringify([fullRecord(), fullRecord()])}\n`)).toThrow(/do not match/);
});

test('values a client chose stay values, whatever brackets, quotes and escapes they hold; NUL becomes U+FFFD', () => {
  const hostile = "x'); DROP TABLE records; --\nINSERT } ] { [ \" \\\" \\";
  const records = [fullRecord({ helo: hostile, sender: 'a\nb}' }), fullRecord({ subject: 'a\0b', recipients: [{ address: "o'\0@example.org", answer: 'accepted' }] })];
  expect(batchPart(records).split('\n')).toHaveLength(3);
  const [first, second] = partRows(batchPart(records));
  expect(detail(first).helo).toBe(hostile);
  expect(column(first, 'detail')).toBe(JSON.stringify(records[0]));
  expect(column(first, 'sender')).toBe('a\nb}');
  expect(detail(second).subject).toBe('a\ufffdb');
  expect(second[1][0][0]).toBe("o'\ufffd@example.org");
  expect((detail(second).recipients as { address: string }[])[0].address).toBe("o'\ufffd@example.org");
  // A client's literal backslash-u0000 text is kept as it was.
  expect(detail(rowsOf(fullRecord({ helo: '\\u0000' }))[0]).helo).toBe('\\u0000');
});

test('each element of a JSON array of objects is cut out as it was written', () => {
  const values = [{ a: '}', b: [1, { c: ']' }] }, {}, { q: '"{[', e: '\\', u: '\u00e9\u2028' }];
  expect(elementTexts(JSON.stringify(values))).toEqual(values.map((v) => JSON.stringify(v)));
  expect(elementTexts('[]')).toEqual([]);
});

test('a record no store could hold is a RangeError before anything is sent', () => {
  expect(() => batchPart([fullRecord(), fullRecord({ clientIp: '300.1.1.1' })])).toThrow(/client IP "300.1.1.1" is not an IP address/);
  expect(() => batchPart([fullRecord({ delayMs: -1 })])).toThrow(/delay -1 ms/);
  expect(() => batchPart([fullRecord({ size: 1.5 })])).toThrow(/size 1.5/);
});
