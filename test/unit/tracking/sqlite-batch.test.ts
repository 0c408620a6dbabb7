// The SQLite batch script: every value through one literal writer, so that nothing a client sent becomes SQL.
import { batchScript, sqlLiteral } from '../../../src/tracking/sqlite-batch';
import { fullRecord } from './tracking-behaviour';

test('strings are quoted with quotes doubled, and nothing else is special to SQLite', () => {
  expect(sqlLiteral("it's")).toBe("'it''s'");
  expect(sqlLiteral("'); DROP TABLE records; --")).toBe("'''); DROP TABLE records; --'");
  expect(sqlLiteral('back\\slash "double" \n newline')).toBe("'back\\slash \"double\" \n newline'");
  expect(sqlLiteral('')).toBe("''");
});

test('NUL, which would end the SQL text, is refused (records have it replaced before)', () => {
  expect(() => sqlLiteral('a\0b')).toThrow(RangeError);
  expect(batchScript([fullRecord({ subject: 'a\0b' })])).toContain("'a\ufffdb'");
});

test('numbers must be finite; bytes are hex; null is NULL', () => {
  expect(sqlLiteral(42)).toBe('42');
  expect(sqlLiteral(-1.5)).toBe('-1.5');
  expect(() => sqlLiteral(Number.NaN)).toThrow(RangeError);
  expect(() => sqlLiteral(Infinity)).toThrow(RangeError);
  expect(sqlLiteral(new Uint8Array([0, 0xff, 0x10]))).toBe("X'00ff10'");
  expect(sqlLiteral(null)).toBe('NULL');
});

test('one transaction: each record, then its recipients and rules with its id', () => {
  const script = batchScript([fullRecord(), fullRecord({ recipients: [], rules: [] })]).split('\n');
  expect(script[0]).toBe('BEGIN;');
  expect(script[script.length - 1]).toBe('COMMIT;');
  expect(script.map((line) => line.split(' (')[0])).toEqual([
    'BEGIN;',
    'INSERT INTO records', 'INSERT INTO recipients', 'INSERT OR IGNORE INTO record_rules',
    'INSERT INTO records',
    'COMMIT;',
  ]);
  expect(script[2]).toContain("(last_insert_rowid(), 0, 'anne@customer.example', 'accepted', NULL, ");
  expect(script[2]).toContain("(last_insert_rowid(), 1, 'bob@customer.example', 'reject', '550 5.1.1 No such user', ");
});

test('a record no store could hold is a RangeError before any SQL', () => {
  expect(() => batchScript([fullRecord(), fullRecord({ clientIp: '300.1.1.1' })])).toThrow(/client IP "300.1.1.1" is not an IP address/);
  expect(() => batchScript([fullRecord({ delayMs: -1 })])).toThrow(/delay -1 ms/);
  expect(() => batchScript([fullRecord({ size: 1.5 })])).toThrow(/size 1.5/);
});
