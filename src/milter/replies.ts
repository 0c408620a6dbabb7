// Encodes milter replies (decisions, end-of-message modifications, negotiation) into wire packets.
import { MacroStage, MAX_OUTGOING_DATA, Rep } from './constants';
import { ReplyEncodingError } from './errors';
import { encodeFrame } from './frame-decoder';
import { formatReplyText, type SmtpReply } from './reply-text';

/** Per-stage macro lists requested at negotiation (the smfi_setsymlist extension). */
export type MacroRequest = Partial<Record<MacroStage, readonly string[]>>;

export type Modification =
  | { kind: 'addHeader'; name: string; value: string }
  | { kind: 'insertHeader'; index: number; name: string; value: string }
  | { kind: 'changeHeader'; index: number; name: string; value: string }
  | { kind: 'addRecipient'; recipient: string; args?: string }
  | { kind: 'deleteRecipient'; recipient: string }
  | { kind: 'changeSender'; sender: string; args?: string }
  | { kind: 'replaceBody'; body: Buffer }
  | { kind: 'quarantine'; reason: string };

export type MilterReply =
  | { kind: 'continue' }
  | { kind: 'accept' }
  | { kind: 'discard' }
  | { kind: 'reject' }
  | { kind: 'tempfail' }
  | { kind: 'shutdown' }
  | { kind: 'replycode'; reply: SmtpReply }
  | { kind: 'skip' }
  | { kind: 'progress' }
  | { kind: 'negotiate'; version: number; actions: number; protocol: number; macros?: MacroRequest }
  | Modification;

const BARE: Record<string, number> = {
  continue: Rep.CONTINUE,
  accept: Rep.ACCEPT,
  discard: Rep.DISCARD,
  reject: Rep.REJECT,
  tempfail: Rep.TEMPFAIL,
  shutdown: Rep.SHUTDOWN,
  skip: Rep.SKIP,
  progress: Rep.PROGRESS,
};

// Pre-built because they are sent for almost every command; Buffers are never mutated after this.
const BARE_FRAMES = new Map(Object.entries(BARE).map(([kind, code]) => [kind, encodeFrame(code)]));

/** Encodes one reply; REPLBODY may become several packets of at most 65535 data bytes each. */
export function encodeReply(reply: MilterReply): Buffer {
  const bare = BARE_FRAMES.get(reply.kind);
  if (bare) return bare;
  switch (reply.kind) {
    case 'replycode':
      return packet(Rep.REPLYCODE, cstr(formatReplyText(reply.reply)));
    case 'negotiate':
      return packet(Rep.OPTNEG, encodeNegotiation(reply.version, reply.actions, reply.protocol, reply.macros));
    case 'addHeader':
      return packet(Rep.ADDHEADER, cstr(headerName(reply.name), reply.value));
    case 'insertHeader':
      return packet(Rep.INSHEADER, Buffer.concat([uint32(reply.index), cstr(headerName(reply.name), reply.value)]));
    case 'changeHeader':
      return packet(Rep.CHGHEADER, Buffer.concat([uint32(reply.index), cstr(headerName(reply.name), reply.value)]));
    case 'addRecipient':
      // Never more than two strings: Sendmail ignores the request and Postfix drops the connection.
      return reply.args === undefined ? packet(Rep.ADDRCPT, cstr(reply.recipient)) : packet(Rep.ADDRCPT_PAR, cstr(reply.recipient, reply.args));
    case 'deleteRecipient':
      return packet(Rep.DELRCPT, cstr(reply.recipient));
    case 'changeSender':
      return packet(Rep.CHGFROM, reply.args === undefined ? cstr(reply.sender) : cstr(reply.sender, reply.args));
    case 'quarantine':
      if (reply.reason.length === 0) throw new ReplyEncodingError('quarantine reason must not be empty');
      return packet(Rep.QUARANTINE, cstr(reply.reason));
    case 'replaceBody':
      return encodeReplaceBody(reply.body);
    default:
      throw new ReplyEncodingError(`no encoding for reply ${(reply as { kind: string }).kind}`);
  }
}

function encodeNegotiation(version: number, actions: number, protocol: number, macros?: MacroRequest): Buffer {
  const parts = [uint32(version), uint32(actions), uint32(protocol)];
  for (const [stage, names] of Object.entries(macros ?? {})) {
    if (names === undefined) continue;
    parts.push(uint32(Number(stage)), cstr(names.join(' ')));
  }
  return Buffer.concat(parts);
}

/** Postfix needs REPLBODY packets back to back, which one concatenated write guarantees. */
function encodeReplaceBody(body: Buffer): Buffer {
  const frames: Buffer[] = [];
  for (let at = 0; at < body.length || frames.length === 0; at += MAX_OUTGOING_DATA) {
    frames.push(encodeFrame(Rep.REPLBODY, body.subarray(at, at + MAX_OUTGOING_DATA)));
  }
  return Buffer.concat(frames);
}

function packet(code: number, data: Buffer): Buffer {
  if (data.length > MAX_OUTGOING_DATA) {
    throw new ReplyEncodingError(`reply '${String.fromCharCode(code)}' has ${data.length} data bytes, more than ${MAX_OUTGOING_DATA}`);
  }
  return encodeFrame(code, data);
}

function headerName(name: string): string {
  if (name.length === 0 || /[\0-\x20\x7f:]/.test(name)) throw new ReplyEncodingError(`invalid header name ${JSON.stringify(name)}`);
  return name;
}

function cstr(...strings: string[]): Buffer {
  for (const s of strings) if (s.includes('\0')) throw new ReplyEncodingError('string contains NUL');
  return Buffer.from(strings.map((s) => `${s}\0`).join(''), 'utf8');
}

function uint32(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new ReplyEncodingError(`${n} is not a uint32`);
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
}
