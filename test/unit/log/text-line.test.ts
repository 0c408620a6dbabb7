// The text log line: layout, quoting, and that no value from an SMTP client can forge a field or a line.
import fc from 'fast-check';
import { fieldValue, textLine } from '../../../src/log/text-line';

const TIME = '2024-05-01T12:00:00.000Z';

/** Reads a line's fields as a logfmt reader would: key=bare or key="JSON string"; anything else fails. */
function readFields(fields: string): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = [];
  const token = / ([\w.+-]+)=("(?:[^"\\]|\\.)*"|[^\s"]\S*)/y;
  for (let at = 0; at < fields.length; ) {
    token.lastIndex = at;
    const m = token.exec(fields);
    if (!m) throw new Error(`unreadable at ${at}: ${fields.slice(at)}`);
    out.push([m[1], m[2].startsWith('"') ? JSON.parse(m[2]) : m[2]]);
    at = token.lastIndex;
  }
  return out;
}

test('time first, then level, message and the fields in the order given', () => {
  expect(textLine(TIME, 'info', 'answer', { answer: 'reject', client: '192.0.2.9', score: 61.5, would: false, none: null }))
    .toBe(`${TIME} info answer answer=reject client=192.0.2.9 score=61.5 would=false none=null`);
});

test('values with spaces, quotes, backslashes, = or nothing in them are JSON strings', () => {
  expect(fieldValue('451 4.7.1 Too much mail')).toBe('"451 4.7.1 Too much mail"');
  expect(fieldValue('say "hi"')).toBe('"say \\"hi\\""');
  expect(fieldValue('a\\b')).toBe('"a\\\\b"');
  expect(fieldValue('a=b')).toBe('"a=b"');
  expect(fieldValue('')).toBe('""');
  expect(fieldValue('<user@example.org>')).toBe('<user@example.org>');
  expect(fieldValue('ip+sender:192.0.2.9+a@example.org')).toBe('ip+sender:192.0.2.9+a@example.org');
});

test('arrays and objects are one JSON token, their whitespace escaped; errors show their message', () => {
  expect(fieldValue(['a', 'b'])).toBe('["a","b"]');
  expect(fieldValue({ ip: 2, helo: 'x y' })).toBe('{"ip":2,"helo":"x\\u0020y"}');
  expect(JSON.parse(fieldValue({ helo: 'x y\n' }))).toEqual({ helo: 'x y\n' });
  expect(fieldValue(new Error('store down'))).toBe('"store down"');
  expect(fieldValue(12n)).toBe('12');
});

test('a HELO with a line break cannot start a second line', () => {
  const line = textLine(TIME, 'info', 'answer', { answer: 'ok', client: '192.0.2.9', helo: 'pc\n2024-05-01T12:00:01.000Z info answer answer=reject client=6.6.6.6' });
  expect(line.split('\n')).toHaveLength(1);
  expect(line).toBe(`${TIME} info answer answer=ok client=192.0.2.9 helo="pc\\n2024-05-01T12:00:01.000Z info answer answer=reject client=6.6.6.6"`);
});

test('a HELO with " answer=ok client=1.2.3.4" stays the value of helo', () => {
  const line = textLine(TIME, 'info', 'answer', { answer: 'reject', client: '192.0.2.9', helo: 'x answer=ok client=1.2.3.4' });
  expect(readFields(line.slice(`${TIME} info answer`.length))).toEqual([['answer', 'reject'], ['client', '192.0.2.9'], ['helo', 'x answer=ok client=1.2.3.4']]);
});

test('CR, NEL, DEL, NUL, U+2028 and U+2029 are escaped', () => {
  for (const c of ['\r', '\u0085', '\u007f', '\u0000', '\u2028', '\u2029', '\t', '\u001b']) {
    const line = textLine(TIME, 'info', 'answer', { helo: `a${c}b` });
    expect(line).not.toContain(c);
    expect(readFields(line.slice(`${TIME} info answer`.length))).toEqual([['helo', `a${c}b`]]);
  }
});

test('undefined fields are left out; odd keys and messages with line breaks are quoted', () => {
  expect(textLine(TIME, 'warn', 'dns list', { list: 'zen', reason: undefined })).toBe(`${TIME} warn dns list list=zen`);
  expect(textLine(TIME, 'info', 'two\nlines', { 'a b': 1 })).toBe(`${TIME} info "two\\nlines" "a b"=1`);
});

test('any string as any client field reads back as exactly the fields written, on one line', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), (helo, sender) => {
      const line = textLine(TIME, 'info', 'answer', { answer: 'reject', client: '192.0.2.9', helo, from: sender });
      expect(line).not.toMatch(/[\r\n\u0085\u2028\u2029]/);
      expect(readFields(line.slice(`${TIME} info answer`.length))).toEqual([['answer', 'reject'], ['client', '192.0.2.9'], ['helo', helo], ['from', sender]]);
    }),
    { numRuns: 500 },
  );
});
