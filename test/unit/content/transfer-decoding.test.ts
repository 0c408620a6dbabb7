// Transfer decoding cut at any chunk boundary: the same bytes and sizes as decoding the whole at once.
import fc from 'fast-check';
import { encode as encodeQuotedPrintable, decode as decodeQuotedPrintable, wrap } from 'libqp';
import { transferDecoder } from '../../../src/content/transfer-decoding';

function run(encoding: string, input: Buffer, cuts: number[], decode = true): { bytes: Buffer; size: number; problem: string | undefined } {
  const decoder = transferDecoder(encoding, decode);
  const out: Buffer[] = [];
  let start = 0;
  for (const cut of [...cuts].sort((a, b) => a - b).concat(input.length)) {
    out.push(decoder.write(input.subarray(start, Math.max(start, cut))));
    start = Math.max(start, cut);
  }
  out.push(decoder.end());
  return { bytes: Buffer.concat(out), size: decoder.size, problem: decoder.problem };
}

describe('base64', () => {
  test('decoded and counted sizes equal the data at any cuts, line-wrapped or not', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), fc.array(fc.nat(), { maxLength: 12 }), (data, wrapLines, rawCuts) => {
        const text = Buffer.from(data).toString('base64');
        const encoded = Buffer.from(wrapLines ? (text.match(/.{1,76}/g) ?? []).join('\r\n') : text);
        const cuts = rawCuts.map((c) => c % (encoded.length + 1));
        const decoded = run('base64', encoded, cuts);
        expect(decoded).toEqual({ bytes: Buffer.from(data), size: data.length, problem: undefined });
        const counted = run('base64', encoded, cuts, false);
        expect(counted).toEqual({ bytes: Buffer.alloc(0), size: data.length, problem: undefined });
      }),
    );
  });

  test.each([
    ['foreign bytes', 'QU!JD', 3],
    ['a lone digit at the end', 'QUJDR', 3],
    ['digits after the padding', 'QQ==QUJD', 4],
  ])('%s: bad-base64, still decoded leniently', (_what, input, size) => {
    const result = run('base64', Buffer.from(input), []);
    expect(result.problem).toBe('bad-base64');
    expect(result.size).toBe(size);
  });

  test('padding ends a group: "QQ==" is one byte, "QUI=" two', () => {
    expect(run('base64', Buffer.from('QQ=='), []).size).toBe(1);
    expect(run('base64', Buffer.from('QUI='), [2]).size).toBe(2);
  });
});

describe('quoted-printable', () => {
  test('decoded bytes equal libqp decoding the whole, at any cuts (escapes and soft breaks cut too)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat(), { maxLength: 12 }), (data, rawCuts) => {
        const encoded = Buffer.from(wrap(encodeQuotedPrintable(Buffer.from(data)), 76));
        const cuts = rawCuts.map((c) => c % (encoded.length + 1));
        const result = run('quoted-printable', encoded, cuts);
        expect(result.bytes).toEqual(Buffer.from(data));
        expect(result.size).toBe(data.length);
      }),
    );
  });

  test('blanks before a soft line break cut by a chunk boundary are kept', () => {
    const encoded = Buffer.from('casino =\r\nbonus');
    for (let cut = 0; cut <= encoded.length; cut++) expect(run('quoted-printable', encoded, [cut]).bytes.toString()).toBe('casino bonus');
  });

  test('an endless line is decoded as it comes, not held', () => {
    const decoder = transferDecoder('quoted-printable', true);
    const line = Buffer.from('a=3D'.repeat(10000));
    expect(decoder.write(line).length).toBeGreaterThan(9000);
    expect(decoder.write(line).length).toBeGreaterThan(9000);
    decoder.end();
    expect(decoder.size).toBe(decodeQuotedPrintable(Buffer.concat([line, line])).length);
  });
});

test('7bit, 8bit, binary and unknown encodings pass through, counted', () => {
  for (const encoding of ['', '7bit', '8bit', 'binary', 'x-uuencode']) {
    expect(run(encoding, Buffer.from('abc\r\ndef'), [4])).toEqual({ bytes: Buffer.from('abc\r\ndef'), size: 8, problem: undefined });
  }
});
