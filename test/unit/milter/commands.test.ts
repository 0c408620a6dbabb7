// decodeCommand: every MTA command shape from builder fixtures, and malformed packets rejected with FG_ERR_COMMAND.
import { decodeCommand } from '../../../src/milter/commands';
import { Cmd } from '../../../src/milter/constants';
import { MilterProtocolError } from '../../../src/milter/errors';
import { byte, cstr, hex, payload, str, u16, u32 } from '../../support/frame-builder';
import { comparable, COMMAND_FIXTURES, fixtureFrame, fixturePayload } from './command-fixtures';

function decodeError(packet: Buffer): MilterProtocolError {
  try {
    decodeCommand(packet);
  } catch (error) {
    expect(error).toBeInstanceOf(MilterProtocolError);
    return error as MilterProtocolError;
  }
  throw new Error(`decodeCommand accepted ${packet.toString('latin1')}`);
}

describe('decodeCommand on well-formed packets', () => {
  test.each(COMMAND_FIXTURES.map((f) => [f.name, f] as const))('%s', (_name, fixture) => {
    expect(comparable(decodeCommand(fixturePayload(fixture)))).toEqual(fixture.expected);
  });

  test('the fixtures cover every SMFIC_* command byte', () => {
    const covered = new Set(COMMAND_FIXTURES.map((f) => f.code.charCodeAt(0)));
    for (const [name, code] of Object.entries(Cmd)) expect([name, covered.has(code)]).toEqual([name, true]);
  });

  test('the builder reproduces the CONNECT bytes of section 13 exactly', () => {
    const connect = COMMAND_FIXTURES.find((f) => f.name.startsWith('CONNECT IPv4 (the worked example'));
    expect(connect).toBeDefined();
    const wire = hex('00 00 00 1F 43 6D 61 69 6C 2E 65 78 61 6D 70 6C 65 2E 6F 72 67 00 34 D4 31 31 39 32 2E 30 2E 32 2E 31 00');
    expect(fixtureFrame(connect!)).toEqual(wire);
    expect(decodeCommand(wire.subarray(4))).toEqual({ kind: 'connect', hostname: 'mail.example.org', family: 'inet', port: 54321, address: '192.0.2.1' });
  });

  test('the MTA offer of section 13 decodes to v6, all actions, all v6 protocol bits', () => {
    expect(decodeCommand(hex('4F 00 00 00 06 00 00 01 FF 00 1F FF FF'))).toEqual({ kind: 'optneg', version: 6, actions: 0x1ff, protocol: 0x1fffff });
  });

  test('the port is read big-endian (0x0019 is 25, not 6400)', () => {
    const cmd = decodeCommand(payload('C', cstr('h'), str('4'), u16(25), cstr('192.0.2.9')));
    expect(cmd).toMatchObject({ kind: 'connect', port: 25 });
  });

  test('a MACRO packet accepts any command byte, including ones without a macro stage', () => {
    expect(comparable(decodeCommand(payload('D', str('U'), cstr('{client_addr}'), cstr('192.0.2.1'))))).toEqual({
      kind: 'macro',
      forCommand: 0x55,
      macros: { '{client_addr}': '192.0.2.1' },
    });
  });

  test('an OPTNEG longer than 12 bytes keeps the first three words', () => {
    expect(decodeCommand(payload('O', u32(6), u32(0x1ff), u32(0x1fffff), u32(0xdeadbeef)))).toMatchObject({ version: 6, protocol: 0x1fffff });
  });

  test('EOM data (never sent by MTAs) is kept as a last body chunk, as libmilter does', () => {
    expect(decodeCommand(payload('E', str('tail\r\n')))).toEqual({ kind: 'eom', chunk: Buffer.from('tail\r\n') });
  });
});

describe('decodeCommand on malformed packets throws FG_ERR_COMMAND', () => {
  const cases: Array<[string, Buffer]> = [
    ['unknown command byte Z', payload('Z')],
    ['unknown command byte 0x00', payload(0x00, cstr('x'))],
    ['SMFIR_SETSYMLIST l sent as a command', payload('l')],
    ['OPTNEG without data', payload('O')],
    ['OPTNEG with 8 bytes', payload('O', u32(6), u32(0x1ff))],
    ['OPTNEG with 11 bytes', payload('O', u32(6), u32(0x1ff), u16(0x1f), byte(0xff))],
    ['MACRO without its command byte', payload('D')],
    ['MACRO with a name but no value (odd string count)', payload('D', str('C'), cstr('j'))],
    ['MACRO with three strings', payload('D', str('C'), cstr('j'), cstr('mx'), cstr('{daemon_name}'))],
    ['MACRO whose last value has no NUL', payload('D', str('C'), cstr('j'), str('mx.example.org'))],
    ['CONNECT whose hostname has no NUL', payload('C', str('mail.example.org'))],
    ['CONNECT without a family byte', payload('C', cstr('mail.example.org'))],
    ['CONNECT with family X', payload('C', cstr('h'), str('X'), u16(25), cstr('192.0.2.1'))],
    ['CONNECT with family 5', payload('C', cstr('h'), str('5'), u16(25), cstr('192.0.2.1'))],
    ['CONNECT family 4 without port', payload('C', cstr('h'), str('4'))],
    ['CONNECT family 4 with half a port', payload('C', cstr('h'), str('4'), byte(0))],
    ['CONNECT family 4 without address', payload('C', cstr('h'), str('4'), u16(25))],
    ['CONNECT family 6 whose address has no NUL', payload('C', cstr('h'), str('6'), u16(25), str('2001:db8::1'))],
    ['CONNECT family L with two strings after the port', payload('C', cstr('h'), str('L'), u16(0), cstr('/a'), cstr('/b'))],
    ['HELO without data', payload('H')],
    ['HELO without NUL', payload('H', str('client.example.net'))],
    ['HELO with two strings', payload('H', cstr('a'), cstr('b'))],
    ['MAIL without data', payload('M')],
    ['MAIL whose last argument has no NUL', payload('M', cstr('<a@example.org>'), str('SIZE=1'))],
    ['RCPT without data', payload('R')],
    ['RCPT without NUL', payload('R', str('<b@example.org>'))],
    ['HEADER with one string', payload('L', cstr('Subject'))],
    ['HEADER with three strings', payload('L', cstr('Subject'), cstr('a'), cstr('b'))],
    ['HEADER without data', payload('L')],
    ['HEADER whose value has no NUL', payload('L', cstr('Subject'), str('hello'))],
    ['UNKNOWN without data', payload('U')],
    ['UNKNOWN without NUL', payload('U', str('XFOO'))],
  ];

  test.each(cases)('%s', (_name, packet) => {
    const error = decodeError(packet);
    expect(error.code).toBe('FG_ERR_COMMAND');
    expect(error.name).toBe('MilterProtocolError');
  });

  test('the unknown-command message names the byte in hex', () => {
    expect(decodeError(payload(0x7a)).message).toMatch(/0x7a/);
  });

  // Bug guard: decodeCommand reads frame[0].toString(16) on an empty buffer and throws a TypeError.
  // FrameDecoder never yields empty frames, but decodeCommand is public and promises MilterProtocolError.
  test('an empty packet (no command byte) is a MilterProtocolError, not a TypeError', () => {
    expect(decodeError(Buffer.alloc(0)).code).toBe('FG_ERR_COMMAND');
  });
});
