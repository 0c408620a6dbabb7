// One packet per MTA command shape (built with the independent frame builder) and what it must decode to.
import type { MilterCommand } from '../../../src/milter/commands';
import { byte, cstr, frame, payload, raw, str, u16, u32, type Part } from '../../support/frame-builder';

/** A decoded command with a MACRO packet's pairs as an object, to compare with toEqual. */
export type ComparableCommand = Exclude<MilterCommand, { kind: 'macro' }> | { kind: 'macro'; forCommand: number; macros: Record<string, string> };

export function comparable(cmd: MilterCommand): ComparableCommand {
  return cmd.kind === 'macro' ? { kind: 'macro', forCommand: cmd.forCommand, macros: cmd.macros.toObject() } : cmd;
}

export interface CommandFixture {
  name: string;
  /** Command byte and parts, as `frame()`/`payload()` take them. */
  code: string;
  parts: Part[];
  expected: ComparableCommand;
}

const BODY_WITH_NULS = raw([0x00, 0x61, 0x00, 0x00, 0x62, 0x0d, 0x0a, 0xff, 0x00]);

export const COMMAND_FIXTURES: readonly CommandFixture[] = [
  {
    name: 'OPTNEG from Sendmail 8.14+ / Postfix milter_protocol=6',
    code: 'O',
    parts: [u32(6), u32(0x1ff), u32(0x1fffff)],
    expected: { kind: 'optneg', version: 6, actions: 0x1ff, protocol: 0x1fffff },
  },
  {
    name: 'OPTNEG from Postfix milter_protocol=2',
    code: 'O',
    parts: [u32(2), u32(0x1ff), u32(0x7f)],
    expected: { kind: 'optneg', version: 2, actions: 0x1ff, protocol: 0x7f },
  },
  {
    name: 'MACRO for CONNECT with single-letter and braced names',
    code: 'D',
    parts: [str('C'), cstr('j'), cstr('mx.example.org'), cstr('{daemon_name}'), cstr('smtpd'), cstr('_'), cstr('client.example.net [192.0.2.1]')],
    expected: { kind: 'macro', forCommand: 0x43, macros: { j: 'mx.example.org', '{daemon_name}': 'smtpd', _: 'client.example.net [192.0.2.1]' } },
  },
  {
    name: 'MACRO with one-letter names braced (Sendmail may send {j}): named as libmilter does, j',
    code: 'D',
    parts: [str('C'), cstr('{j}'), cstr('mx.example.org'), cstr('{_}'), cstr('client [192.0.2.1]'), cstr('{}'), cstr('odd')],
    expected: { kind: 'macro', forCommand: 0x43, macros: { j: 'mx.example.org', _: 'client [192.0.2.1]', '{}': 'odd' } },
  },
  {
    name: 'MACRO with no pairs (Postfix, before a header)',
    code: 'D',
    parts: [str('L')],
    expected: { kind: 'macro', forCommand: 0x4c, macros: {} },
  },
  {
    name: 'MACRO with empty values, one of them last (name\\0\\0)',
    code: 'D',
    parts: [str('M'), cstr('{auth_authen}'), cstr(''), cstr('i'), cstr('4XyZ1'), cstr('{mail_host}'), cstr('')],
    expected: { kind: 'macro', forCommand: 0x4d, macros: { '{auth_authen}': '', i: '4XyZ1', '{mail_host}': '' } },
  },
  {
    name: 'CONNECT IPv4 (the worked example of section 13)',
    code: 'C',
    parts: [cstr('mail.example.org'), byte(0x34), u16(54321), cstr('192.0.2.1')],
    expected: { kind: 'connect', hostname: 'mail.example.org', family: 'inet', port: 54321, address: '192.0.2.1' },
  },
  {
    name: 'CONNECT IPv4 with a bracketed hostname (reverse DNS failed)',
    code: 'C',
    parts: [cstr('[198.51.100.7]'), str('4'), u16(1025), cstr('198.51.100.7')],
    expected: { kind: 'connect', hostname: '[198.51.100.7]', family: 'inet', port: 1025, address: '198.51.100.7' },
  },
  {
    name: 'CONNECT IPv6, bare address (Postfix)',
    code: 'C',
    parts: [cstr('six.example.org'), str('6'), u16(25), cstr('2001:db8::1')],
    expected: { kind: 'connect', hostname: 'six.example.org', family: 'inet6', port: 25, address: '2001:db8::1' },
  },
  {
    name: 'CONNECT IPv6 with the IPv6: prefix (Sendmail)',
    code: 'C',
    parts: [cstr('six.example.org'), str('6'), u16(40000), cstr('IPv6:2001:db8::25')],
    expected: { kind: 'connect', hostname: 'six.example.org', family: 'inet6', port: 40000, address: '2001:db8::25' },
  },
  {
    name: 'CONNECT IPv6, uncompressed, lower-case ipv6: prefix',
    code: 'C',
    parts: [cstr('[IPv6:2001:db8:0:0:0:0:0:2]'), str('6'), u16(65535), cstr('ipv6:2001:db8:0:0:0:0:0:2')],
    expected: { kind: 'connect', hostname: '[IPv6:2001:db8:0:0:0:0:0:2]', family: 'inet6', port: 65535, address: '2001:db8:0:0:0:0:0:2' },
  },
  {
    name: 'CONNECT over a unix socket (family L, port 0, path)',
    code: 'C',
    parts: [cstr('localhost'), str('L'), u16(0), cstr('/var/run/sendmail/mta.sock')],
    expected: { kind: 'connect', hostname: 'localhost', family: 'unix', port: 0, address: '/var/run/sendmail/mta.sock' },
  },
  {
    name: 'CONNECT with unknown family (nothing after the family byte)',
    code: 'C',
    parts: [cstr('unknown'), str('U')],
    expected: { kind: 'connect', hostname: 'unknown', family: 'unknown', port: 0, address: '' },
  },
  {
    name: 'HELO',
    code: 'H',
    parts: [cstr('client.example.net')],
    expected: { kind: 'helo', name: 'client.example.net' },
  },
  {
    name: 'MAIL with ESMTP arguments',
    code: 'M',
    parts: [cstr('<alice@example.org>'), cstr('SIZE=12345'), cstr('BODY=8BITMIME')],
    expected: { kind: 'mail', sender: '<alice@example.org>', args: ['SIZE=12345', 'BODY=8BITMIME'] },
  },
  {
    name: 'MAIL with the null sender <>',
    code: 'M',
    parts: [cstr('<>')],
    expected: { kind: 'mail', sender: '<>', args: [] },
  },
  {
    name: 'RCPT with NOTIFY and ORCPT',
    code: 'R',
    parts: [cstr('<bob@example.net>'), cstr('NOTIFY=SUCCESS,FAILURE'), cstr('ORCPT=rfc822;bob@example.net')],
    expected: { kind: 'rcpt', recipient: '<bob@example.net>', args: ['NOTIFY=SUCCESS,FAILURE', 'ORCPT=rfc822;bob@example.net'] },
  },
  {
    name: 'RCPT without arguments',
    code: 'R',
    parts: [cstr('<carol@example.net>')],
    expected: { kind: 'rcpt', recipient: '<carol@example.net>', args: [] },
  },
  { name: 'DATA', code: 'T', parts: [], expected: { kind: 'data' } },
  {
    name: 'HEADER',
    code: 'L',
    parts: [cstr('Subject'), cstr('hello world')],
    expected: { kind: 'header', name: 'Subject', value: 'hello world' },
  },
  {
    name: 'HEADER with an empty value (Subject\\0\\0)',
    code: 'L',
    parts: [cstr('Subject'), cstr('')],
    expected: { kind: 'header', name: 'Subject', value: '' },
  },
  {
    name: 'HEADER folded (LF-joined lines) with leading space kept (HDR_LEADSPC)',
    code: 'L',
    parts: [cstr('Received'), cstr(' from a.example\n\tby b.example')],
    expected: { kind: 'header', name: 'Received', value: ' from a.example\n\tby b.example' },
  },
  {
    name: 'HEADER with a UTF-8 value',
    code: 'L',
    parts: [cstr('Subject'), raw(Buffer.from('Grüße 🌊', 'utf8')), byte(0)],
    expected: { kind: 'header', name: 'Subject', value: 'Grüße 🌊' },
  },
  { name: 'EOH', code: 'N', parts: [], expected: { kind: 'eoh' } },
  {
    name: 'BODY with NULs, CRLF and 0xFF in it',
    code: 'B',
    parts: [BODY_WITH_NULS],
    expected: { kind: 'body', chunk: Buffer.from(BODY_WITH_NULS) },
  },
  {
    name: 'BODY chunk ending between CR and LF',
    code: 'B',
    parts: [str('line one\r\nline two\r')],
    expected: { kind: 'body', chunk: Buffer.from('line one\r\nline two\r', 'latin1') },
  },
  { name: 'EOM (BODYEOB) without data', code: 'E', parts: [], expected: { kind: 'eom', chunk: Buffer.alloc(0) } },
  { name: 'ABORT', code: 'A', parts: [], expected: { kind: 'abort' } },
  { name: 'QUIT', code: 'Q', parts: [], expected: { kind: 'quit' } },
  { name: 'QUIT_NC', code: 'K', parts: [], expected: { kind: 'quitNewConnection' } },
  {
    name: 'UNKNOWN SMTP command line',
    code: 'U',
    parts: [cstr('XFOO bar baz')],
    expected: { kind: 'unknown', line: 'XFOO bar baz' },
  },
];

export function fixturePayload(f: CommandFixture): Buffer {
  return payload(f.code, ...f.parts);
}

export function fixtureFrame(f: CommandFixture): Buffer {
  return frame(f.code, ...f.parts);
}
