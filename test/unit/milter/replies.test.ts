// encodeReply against exact bytes: section 13's worked examples, every decision and modification, size limits.
import { MacroStage } from '../../../src/milter/constants';
import { ReplyEncodingError } from '../../../src/milter/errors';
import { encodeReply, type MilterReply } from '../../../src/milter/replies';
import { cstr, frame, hex, raw, str, toHex, u32 } from '../../support/frame-builder';

/** Splits encoder output into packets by hand (not with FrameDecoder): [code char, data length, data]. */
function packets(wire: Buffer): Array<{ code: string; data: Buffer }> {
  const out: Array<{ code: string; data: Buffer }> = [];
  let at = 0;
  while (at < wire.length) {
    const len = wire.readUInt32BE(at);
    out.push({ code: String.fromCharCode(wire[at + 4]), data: wire.subarray(at + 5, at + 4 + len) });
    at += 4 + len;
  }
  expect(at).toBe(wire.length);
  return out;
}

function encodingError(reply: MilterReply): ReplyEncodingError {
  try {
    encodeReply(reply);
  } catch (error) {
    expect(error).toBeInstanceOf(ReplyEncodingError);
    expect((error as ReplyEncodingError).code).toBe('FG_ERR_REPLY');
    return error as ReplyEncodingError;
  }
  throw new Error(`encoded ${JSON.stringify(reply)}`);
}

describe('worked examples of section 13, byte for byte', () => {
  test('negotiation answer: v6, ADDHDRS|SETSYMLIST, NOUNKNOWN|NODATA|HDR_LEADSPC, ENVFROM macro list', () => {
    const wire = encodeReply({
      kind: 'negotiate',
      version: 6,
      actions: 0x101,
      protocol: 0x00100300,
      macros: { [MacroStage.ENVFROM]: ['{auth_authen}', '{mail_addr}'] },
    });
    expect(toHex(wire)).toBe(
      toHex(hex('00 00 00 2B 4F 00 00 00 06 00 00 01 01 00 10 03 00 00 00 00 02 7B 61 75 74 68 5F 61 75 74 68 65 6E 7D 20 7B 6D 61 69 6C 5F 61 64 64 72 7D 00')),
    );
  });

  test('continue', () => {
    expect(encodeReply({ kind: 'continue' })).toEqual(hex('00 00 00 01 63'));
  });

  test('replycode 550 5.7.1 Rejected by policy', () => {
    const wire = encodeReply({ kind: 'replycode', reply: { code: '550', ext: '5.7.1', text: 'Rejected by policy' } });
    expect(toHex(wire)).toBe(toHex(hex('00 00 00 1E 79 35 35 30 20 35 2E 37 2E 31 20 52 65 6A 65 63 74 65 64 20 62 79 20 70 6F 6C 69 63 79 00')));
  });

  test('CHGHEADER index 1, Subject -> [SPAM] hello', () => {
    const wire = encodeReply({ kind: 'changeHeader', index: 1, name: 'Subject', value: '[SPAM] hello' });
    expect(toHex(wire)).toBe(toHex(hex('00 00 00 1A 6D 00 00 00 01 53 75 62 6A 65 63 74 00 5B 53 50 41 4D 5D 20 68 65 6C 6C 6F 00')));
  });
});

describe('decisions without data are length-1 packets (Postfix rejects data after c a d r t s 4 p)', () => {
  test.each([
    ['continue', 'c'],
    ['accept', 'a'],
    ['discard', 'd'],
    ['reject', 'r'],
    ['tempfail', 't'],
    ['shutdown', '4'],
    ['skip', 's'],
    ['progress', 'p'],
  ] as const)('%s -> %s', (kind, code) => {
    expect(encodeReply({ kind })).toEqual(frame(code));
  });
});

describe('negotiation answer', () => {
  test('without macro lists it is exactly 12 data bytes', () => {
    expect(encodeReply({ kind: 'negotiate', version: 2, actions: 0, protocol: 0x7f })).toEqual(frame('O', u32(2), u32(0), u32(0x7f)));
  });

  test('several macro lists follow in stage order; an empty list is a lone NUL', () => {
    const wire = encodeReply({
      kind: 'negotiate',
      version: 6,
      actions: 0x100,
      protocol: 0,
      macros: { [MacroStage.EOH]: [], [MacroStage.CONNECT]: ['j', '{daemon_name}'], [MacroStage.EOM]: ['i'] },
    });
    expect(wire).toEqual(frame('O', u32(6), u32(0x100), u32(0), u32(0), cstr('j {daemon_name}'), u32(5), cstr('i'), u32(6), cstr('')));
  });

  test('a flag word that is not a uint32 is refused', () => {
    encodingError({ kind: 'negotiate', version: 6, actions: -1, protocol: 0 });
    encodingError({ kind: 'negotiate', version: 6, actions: 0, protocol: 2 ** 32 });
  });
});

describe('modifications', () => {
  test('addHeader -> h name\\0value\\0', () => {
    expect(encodeReply({ kind: 'addHeader', name: 'X-Floodgate', value: 'score=3' })).toEqual(frame('h', cstr('X-Floodgate'), cstr('score=3')));
  });

  test('addHeader with an empty value and a multi-line (LF + tab) value', () => {
    expect(encodeReply({ kind: 'addHeader', name: 'X-Empty', value: '' })).toEqual(frame('h', cstr('X-Empty'), cstr('')));
    expect(encodeReply({ kind: 'addHeader', name: 'X-Multi', value: 'a\n\tb' })).toEqual(frame('h', cstr('X-Multi'), cstr('a\n\tb')));
  });

  test('insertHeader -> i uint32 index, name, value', () => {
    expect(encodeReply({ kind: 'insertHeader', index: 0, name: 'X-Top', value: 'first' })).toEqual(frame('i', u32(0), cstr('X-Top'), cstr('first')));
    expect(encodeReply({ kind: 'insertHeader', index: 0xffffffff, name: 'X-End', value: 'v' })).toEqual(frame('i', u32(0xffffffff), cstr('X-End'), cstr('v')));
  });

  test('changeHeader with an empty value (delete) -> m index name\\0\\0', () => {
    expect(encodeReply({ kind: 'changeHeader', index: 2, name: 'X-Spam', value: '' })).toEqual(frame('m', u32(2), cstr('X-Spam'), cstr('')));
  });

  test('header values are UTF-8 on the wire', () => {
    expect(encodeReply({ kind: 'addHeader', name: 'X-Note', value: 'Grüße' })).toEqual(frame('h', cstr('X-Note'), raw(Buffer.from('Grüße', 'utf8')), raw([0])));
  });

  test('addRecipient without args -> ADDRCPT (+), one string', () => {
    expect(encodeReply({ kind: 'addRecipient', recipient: '<copy@example.org>' })).toEqual(frame('+', cstr('<copy@example.org>')));
  });

  test('addRecipient with args -> ADDRCPT_PAR (2), exactly two strings', () => {
    expect(encodeReply({ kind: 'addRecipient', recipient: '<copy@example.org>', args: 'NOTIFY=NEVER ORCPT=rfc822;x@example.org' })).toEqual(
      frame('2', cstr('<copy@example.org>'), cstr('NOTIFY=NEVER ORCPT=rfc822;x@example.org')),
    );
  });

  test('deleteRecipient -> - rcpt\\0', () => {
    expect(encodeReply({ kind: 'deleteRecipient', recipient: '<bob@example.net>' })).toEqual(frame('-', cstr('<bob@example.net>')));
  });

  test('changeSender without and with args -> e', () => {
    expect(encodeReply({ kind: 'changeSender', sender: '<bounce@example.org>' })).toEqual(frame('e', cstr('<bounce@example.org>')));
    expect(encodeReply({ kind: 'changeSender', sender: '<>', args: 'RET=HDRS ENVID=x1' })).toEqual(frame('e', cstr('<>'), cstr('RET=HDRS ENVID=x1')));
  });

  test('quarantine -> q reason\\0', () => {
    expect(encodeReply({ kind: 'quarantine', reason: 'rate limit exceeded' })).toEqual(frame('q', cstr('rate limit exceeded')));
  });

  test('quarantine with an empty reason is refused', () => {
    encodingError({ kind: 'quarantine', reason: '' });
  });
});

describe('replaceBody', () => {
  test('150000 bytes -> 3 consecutive b packets of 65535, 65535 and 18930 bytes, in order', () => {
    const body = Buffer.alloc(150000);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    const out = packets(encodeReply({ kind: 'replaceBody', body }));
    expect(out.map((p) => [p.code, p.data.length])).toEqual([
      ['b', 65535],
      ['b', 65535],
      ['b', 18930],
    ]);
    expect(Buffer.concat(out.map((p) => p.data)).equals(body)).toBe(true);
  });

  test('an empty body -> one empty b packet (the body is replaced by nothing)', () => {
    expect(encodeReply({ kind: 'replaceBody', body: Buffer.alloc(0) })).toEqual(hex('00 00 00 01 62'));
  });

  test('exactly 65535 bytes is one packet, 65536 is two', () => {
    expect(packets(encodeReply({ kind: 'replaceBody', body: Buffer.alloc(65535, 0x61) })).map((p) => p.data.length)).toEqual([65535]);
    expect(packets(encodeReply({ kind: 'replaceBody', body: Buffer.alloc(65536, 0x61) })).map((p) => p.data.length)).toEqual([65535, 1]);
  });

  test('body bytes are copied verbatim, NULs and CRLF included', () => {
    const body = raw([0x61, 0x00, 0x0d, 0x0a, 0xff]);
    expect(encodeReply({ kind: 'replaceBody', body })).toEqual(frame('b', body));
  });
});

describe('refused replies (ReplyEncodingError, FG_ERR_REPLY)', () => {
  test('data over 65535 bytes in one packet', () => {
    encodingError({ kind: 'addHeader', name: 'X-Big', value: 'x'.repeat(70000) });
    encodingError({ kind: 'quarantine', reason: 'q'.repeat(65535) });
  });

  test('65535 data bytes is the last size accepted', () => {
    expect(packets(encodeReply({ kind: 'deleteRecipient', recipient: 'r'.repeat(65534) }))[0].data.length).toBe(65535);
    encodingError({ kind: 'deleteRecipient', recipient: 'r'.repeat(65535) });
  });

  test.each(['', 'Bad Name', 'Bad:Name', 'Tab\tName', 'Nul\0Name', 'Del\x7fName'])('header name %j', (name) => {
    encodingError({ kind: 'addHeader', name, value: 'v' });
  });

  test('a NUL inside a string would end it early', () => {
    encodingError({ kind: 'addHeader', name: 'X-A', value: 'a\0b' });
    encodingError({ kind: 'addRecipient', recipient: '<a@b>', args: 'X\0Y' });
    encodingError({ kind: 'changeSender', sender: '<a\0@b>' });
  });

  test.each([-1, 1.5, 2 ** 32, Number.NaN])('header index %p', (index) => {
    encodingError({ kind: 'insertHeader', index, name: 'X-A', value: 'v' });
    encodingError({ kind: 'changeHeader', index, name: 'X-A', value: 'v' });
  });

  test('a reply code the MTA would not parse', () => {
    encodingError({ kind: 'replycode', reply: { code: '250' as '550', text: 'ok' } });
  });

  test('an unknown reply kind', () => {
    encodingError({ kind: 'frobnicate' } as unknown as MilterReply);
  });

  test('str() sanity: the helpers used above produce the bytes they claim', () => {
    expect(frame('h', str('A'))).toEqual(hex('00 00 00 02 68 41'));
  });
});
