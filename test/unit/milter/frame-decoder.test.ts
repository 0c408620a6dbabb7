// FrameDecoder: the same packets whatever the chunking, and zero/oversize lengths refused at the header.
import { decodeCommand } from '../../../src/milter/commands';
import { DEFAULT_MAX_INCOMING_FRAME } from '../../../src/milter/constants';
import { MilterProtocolError } from '../../../src/milter/errors';
import { encodeFrame, FrameDecoder } from '../../../src/milter/frame-decoder';
import { cstr, frame, frameWithLength, hex, str } from '../../support/frame-builder';
import { comparable, COMMAND_FIXTURES, fixtureFrame, fixturePayload, type ComparableCommand } from './command-fixtures';
import { framesOf } from '../../support/frames';

/** Feeds the chunks in order and decodes every packet that comes out. */
function decodeChunks(chunks: Buffer[], decoder = new FrameDecoder()): ComparableCommand[] {
  return chunks.flatMap((chunk) => framesOf(decoder, chunk)).map((f) => comparable(decodeCommand(f)));
}

function bytewise(wire: Buffer): Buffer[] {
  return [...wire].map((b) => Buffer.from([b]));
}

function frameError(action: () => unknown): MilterProtocolError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(MilterProtocolError);
    return error as MilterProtocolError;
  }
  throw new Error('expected a MilterProtocolError');
}

describe.each(COMMAND_FIXTURES.map((f) => [f.name, f] as const))('%s', (_name, fixture) => {
  const wire = fixtureFrame(fixture);

  test('whole: one frame, equal to the payload', () => {
    const frames = framesOf(new FrameDecoder(), wire);
    expect(frames).toEqual([fixturePayload(fixture)]);
    expect(comparable(decodeCommand(frames[0]))).toEqual(fixture.expected);
  });

  test('byte by byte', () => {
    expect(decodeChunks(bytewise(wire))).toEqual([fixture.expected]);
  });

  test('split in two at every offset', () => {
    for (let at = 0; at <= wire.length; at++) {
      expect([at, decodeChunks([wire.subarray(0, at), wire.subarray(at)])]).toEqual([at, [fixture.expected]]);
    }
  });
});

describe('several packets in one stream', () => {
  const wire = Buffer.concat(COMMAND_FIXTURES.map(fixtureFrame));
  const expected = COMMAND_FIXTURES.map((f) => f.expected);

  test('all packets in one chunk come out in order', () => {
    expect(decodeChunks([wire])).toEqual(expected);
  });

  test('all packets byte by byte', () => {
    expect(decodeChunks(bytewise(wire))).toEqual(expected);
  });

  test('all packets split in two at every offset', () => {
    for (let at = 0; at <= wire.length; at++) {
      expect([at, decodeChunks([wire.subarray(0, at), wire.subarray(at)])]).toEqual([at, expected]);
    }
  });

  test('all packets cut into three at many offset pairs', () => {
    for (let a = 0; a <= wire.length; a += 7) {
      for (let b = a; b <= wire.length; b += 13) {
        const chunks = [wire.subarray(0, a), wire.subarray(a, b), wire.subarray(b)];
        expect([a, b, decodeChunks(chunks)]).toEqual([a, b, expected]);
      }
    }
  });

  test('a macro packet and its command written together (Postfix) give two frames', () => {
    const chunk = Buffer.concat([frame('D', str('H'), cstr('{tls_version}'), cstr('TLSv1.3')), frame('H', cstr('client.example.net'))]);
    expect(decodeChunks([chunk]).map((c) => c.kind)).toEqual(['macro', 'helo']);
  });

  test('frames returned earlier are not corrupted by later pushes into the same decoder', () => {
    const decoder = new FrameDecoder();
    const second = frame('H', cstr('two'));
    const first = framesOf(decoder, Buffer.concat([frame('H', cstr('one')), second.subarray(0, 6)]));
    const rest = framesOf(decoder, Buffer.concat([second.subarray(6), frame('H', cstr('xyz'))]));
    expect(first.map((f) => f.toString('latin1'))).toEqual(['Hone\0']);
    expect(rest.map((f) => f.toString('latin1'))).toEqual(['Htwo\0', 'Hxyz\0']);
  });
});

describe('partial-frame state', () => {
  test('hasPartialFrame is true between the first byte and the last byte of a packet', () => {
    const decoder = new FrameDecoder();
    const wire = frame('H', cstr('client.example.net'));
    expect(decoder.hasPartialFrame).toBe(false);
    framesOf(decoder, wire.subarray(0, 1));
    expect(decoder.hasPartialFrame).toBe(true);
    framesOf(decoder, wire.subarray(1, wire.length - 1));
    expect(decoder.hasPartialFrame).toBe(true);
    expect(framesOf(decoder, wire.subarray(wire.length - 1))).toHaveLength(1);
    expect(decoder.hasPartialFrame).toBe(false);
  });

  test('an empty chunk completes nothing and changes nothing', () => {
    const decoder = new FrameDecoder();
    expect(framesOf(decoder, Buffer.alloc(0))).toEqual([]);
    expect(decoder.hasPartialFrame).toBe(false);
  });

  test('the smallest packet (len 1, command byte only) is accepted', () => {
    expect(framesOf(new FrameDecoder(), hex('00 00 00 01 41'))).toEqual([hex('41')]);
  });
});

describe('invalid lengths throw FG_ERR_FRAME', () => {
  test('length 0 in one chunk', () => {
    expect(frameError(() => framesOf(new FrameDecoder(), hex('00 00 00 00 41'))).code).toBe('FG_ERR_FRAME');
  });

  test('length 0 arriving byte by byte throws when the fourth header byte arrives', () => {
    const decoder = new FrameDecoder();
    for (const b of [0, 0, 0]) expect(framesOf(decoder, Buffer.from([b]))).toEqual([]);
    expect(frameError(() => framesOf(decoder, Buffer.from([0]))).code).toBe('FG_ERR_FRAME');
  });

  test('length 0 after a good packet in the same stream', () => {
    const decoder = new FrameDecoder();
    expect(framesOf(decoder, frame('A'))).toHaveLength(1);
    expect(frameError(() => framesOf(decoder, hex('00 00 00 00'))).code).toBe('FG_ERR_FRAME');
  });

  test('oversize length throws on the bare 4-byte header, before any payload', () => {
    const decoder = new FrameDecoder(100);
    expect(frameError(() => framesOf(decoder, frameWithLength(101))).code).toBe('FG_ERR_FRAME');
  });

  test('oversize length split over header bytes throws exactly at the fourth byte', () => {
    const decoder = new FrameDecoder(100);
    const header = frameWithLength(0x7fffffff);
    for (let i = 0; i < 3; i++) expect(framesOf(decoder, header.subarray(i, i + 1))).toEqual([]);
    const error = frameError(() => framesOf(decoder, header.subarray(3)));
    expect(error.code).toBe('FG_ERR_FRAME');
    expect(error.message).toMatch(/2147483647/);
  });

  test('a length equal to the limit is accepted', () => {
    const decoder = new FrameDecoder(100);
    const wire = frame('B', Buffer.alloc(99, 0x61));
    expect(framesOf(decoder, wire)).toEqual([wire.subarray(4)]);
  });

  test('the default limit is 1 MiB: a 1 MiB header waits for its payload, one byte more throws', () => {
    expect(DEFAULT_MAX_INCOMING_FRAME).toBe(1024 * 1024);
    const ok = new FrameDecoder();
    expect(framesOf(ok, frameWithLength(1024 * 1024, str('L')))).toEqual([]);
    expect(ok.hasPartialFrame).toBe(true);
    expect(frameError(() => framesOf(new FrameDecoder(), frameWithLength(1024 * 1024 + 1))).code).toBe('FG_ERR_FRAME');
  });

  test('a 102400-byte header packet (Postfix header_size_limit) passes the default limit', () => {
    const wire = frame('L', cstr('X-Big'), cstr('v'.repeat(102400)));
    expect(decodeChunks([wire])).toEqual([{ kind: 'header', name: 'X-Big', value: 'v'.repeat(102400) }]);
  });
});

describe('encodeFrame', () => {
  test('a reply without data is a length-1 packet', () => {
    expect(encodeFrame(0x63)).toEqual(hex('00 00 00 01 63'));
  });

  test('data follows the code and counts in the length', () => {
    expect(encodeFrame(0x79, Buffer.from('421 x\0', 'latin1'))).toEqual(hex('00 00 00 07 79 34 32 31 20 78 00'));
  });

  test('agrees with the independent builder', () => {
    expect(encodeFrame(0x48, cstr('client'))).toEqual(frame('H', cstr('client')));
  });
});
