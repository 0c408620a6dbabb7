// Decodes one milter packet from the MTA into a tagged union; pure, no I/O.
import { Cmd, Family } from './constants';
import { MilterProtocolError } from './errors';
import type { Frame } from './frame-decoder';
import { MacroPairs } from './macro-pairs';

export type ClientFamily = 'unknown' | 'unix' | 'inet' | 'inet6';

export type MilterCommand =
  | { kind: 'optneg'; version: number; actions: number; protocol: number }
  | { kind: 'macro'; forCommand: number; macros: MacroPairs }
  | { kind: 'connect'; hostname: string; family: ClientFamily; port: number; address: string }
  | { kind: 'helo'; name: string }
  | { kind: 'mail'; sender: string; args: string[] }
  | { kind: 'rcpt'; recipient: string; args: string[] }
  | { kind: 'data' }
  | { kind: 'header'; name: string; value: string }
  | { kind: 'eoh' }
  | { kind: 'body'; chunk: Buffer }
  | { kind: 'eom'; chunk: Buffer }
  | { kind: 'abort' }
  | { kind: 'quit' }
  | { kind: 'quitNewConnection' }
  | { kind: 'unknown'; line: string };

export type CommandKind = MilterCommand['kind'];

/** Where a packet's data starts: after its command byte. */
const DATA = 1;

/** Decodes a complete packet (command byte first). Throws MilterProtocolError on malformed input. */
export function decodeCommand(frame: Frame): MilterCommand {
  if (frame.length === 0) throw new MilterProtocolError('FG_ERR_COMMAND', 'empty packet (no command byte)');
  // The envelope commands are read from the packet by offset (DATA = 1, after the command byte):
  // one Buffer view less per packet; body chunks are views of their own.
  switch (frame[0]) {
    case Cmd.OPTNEG:
      if (frame.length - DATA < 12) throw malformed('OPTNEG', `needs 12 bytes, got ${frame.length - DATA}`);
      return { kind: 'optneg', version: frame.readUInt32BE(DATA), actions: frame.readUInt32BE(DATA + 4), protocol: frame.readUInt32BE(DATA + 8) };
    case Cmd.MACRO:
      return decodeMacro(frame);
    case Cmd.CONNECT:
      return decodeConnect(frame.subarray(DATA));
    case Cmd.HELO:
      return { kind: 'helo', name: single('HELO', frame, DATA) };
    // The address taken off the front of the strings' list, which stays as the arguments: one list.
    case Cmd.MAIL: {
      const args = stringArray('MAIL', frame, DATA);
      return { kind: 'mail', sender: args.shift()!, args };
    }
    case Cmd.RCPT: {
      const args = stringArray('RCPT', frame, DATA);
      return { kind: 'rcpt', recipient: args.shift()!, args };
    }
    case Cmd.DATA:
      return { kind: 'data' };
    case Cmd.HEADER: {
      const fields = cStrings('HEADER', frame, DATA);
      if (fields.length !== 2) throw malformed('HEADER', `needs name and value, got ${fields.length} strings`);
      return { kind: 'header', name: fields[0], value: fields[1] };
    }
    case Cmd.EOH:
      return { kind: 'eoh' };
    case Cmd.BODY:
      return { kind: 'body', chunk: frame.subarray(DATA) };
    case Cmd.BODYEOB:
      // Neither MTA sends data with it; libmilter would treat any as a last body chunk, so keep it.
      return { kind: 'eom', chunk: frame.subarray(DATA) };
    case Cmd.ABORT:
      return { kind: 'abort' };
    case Cmd.QUIT:
      return { kind: 'quit' };
    case Cmd.QUIT_NC:
      return { kind: 'quitNewConnection' };
    case Cmd.UNKNOWN:
      return { kind: 'unknown', line: single('UNKNOWN', frame, DATA) };
    default:
      throw new MilterProtocolError('FG_ERR_COMMAND', `unknown command byte 0x${frame[0].toString(16).padStart(2, '0')}`);
  }
}

/**
 * A read larger than this is not kept alive by the macros of one of its packets: they are copied out.
 * An MTA's envelope reads are a few hundred bytes; a read that also carries body data can be 64 KiB,
 * and a stage's macros live until the message or the connection ends.
 */
const LARGEST_SHARED_READ = 4096;

/** The pairs are read lazily (macro-pairs.ts); their structure is checked here, as any packet's. */
function decodeMacro(frame: Buffer): MilterCommand {
  if (frame.length - DATA < 1) throw malformed('MACRO', 'no command byte');
  const pairs = frame.subarray(DATA + 1);
  const macros = MacroPairs.check(pairs.buffer.byteLength > LARGEST_SHARED_READ ? Buffer.from(pairs) : pairs);
  if (typeof macros === 'string') throw malformed('MACRO', macros);
  return { kind: 'macro', forCommand: frame[DATA]!, macros };
}

function decodeConnect(data: Buffer): MilterCommand {
  const nul = data.indexOf(0);
  if (nul < 0) throw malformed('CONNECT', 'hostname is not NUL-terminated');
  const hostname = data.toString('utf8', 0, nul);
  if (nul + 1 >= data.length) throw malformed('CONNECT', 'no address family');
  const familyByte = data[nul + 1];
  if (familyByte === Family.UNKNOWN) return { kind: 'connect', hostname, family: 'unknown', port: 0, address: '' };
  const family = familyByte === Family.INET ? 'inet' : familyByte === Family.INET6 ? 'inet6' : familyByte === Family.UNIX ? 'unix' : undefined;
  if (!family) throw malformed('CONNECT', `bad address family 0x${familyByte.toString(16)}`);
  const rest = data.subarray(nul + 2);
  if (rest.length < 3) throw malformed('CONNECT', 'port or address missing');
  const port = rest.readUInt16BE(0);
  let address = single('CONNECT', rest.subarray(2));
  // Sendmail writes IPv6 peers as "IPv6:2001:db8::1", Postfix bare; libmilter strips the prefix too.
  if (family === 'inet6') address = address.replace(/^IPv6:/i, '').replace(/^\[(.*)\]$/, '$1');
  return { kind: 'connect', hostname, family, port, address };
}

/** Splits the NUL-terminated strings from `from` to the end of the packet, keeping empty ones (`<>`, ""). */
function cStrings(what: string, data: Buffer, from = 0): string[] {
  if (data.length <= from) return [];
  if (data[data.length - 1] !== 0) throw malformed(what, 'last string is not NUL-terminated');
  const out: string[] = [];
  let start = from;
  for (let nul = data.indexOf(0, start); nul !== -1; nul = data.indexOf(0, start)) {
    out.push(data.toString('utf8', start, nul));
    start = nul + 1;
  }
  return out;
}

function single(what: string, data: Buffer, from = 0): string {
  const strings = cStrings(what, data, from);
  if (strings.length !== 1) throw malformed(what, `expected one NUL-terminated string, got ${strings.length}`);
  return strings[0];
}

/** MAIL and RCPT: the address, then its ESMTP arguments. */
function stringArray(what: string, data: Buffer, from = 0): string[] {
  const strings = cStrings(what, data, from);
  if (strings.length === 0) throw malformed(what, 'no address');
  return strings;
}

function malformed(what: string, why: string): MilterProtocolError {
  return new MilterProtocolError('FG_ERR_COMMAND', `malformed ${what}: ${why}`);
}
