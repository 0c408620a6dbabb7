// Postfix's log lines as mail events: smtpd (connect, client=, reject, disconnect), qmgr (from=,
// removed) and every delivery agent's to= line. Lines of no use to a replay are `undefined`.
import { clientFrom, type MailEvent, type RefusedStage } from './mail-events';
import type { LogLine } from './log-line';

const STAGES: Record<string, RefusedStage> = { CONNECT: 'connect', HELO: 'helo', EHLO: 'helo', MAIL: 'mail', RCPT: 'rcpt', DATA: 'data', 'END-OF-MESSAGE': 'eom' };

/** Postfix programs are `postfix/smtpd`, `postfix-out/qmgr`, `postfix/submission/smtpd`...: the last part says which. */
export function isPostfix(program: string): boolean {
  return program.startsWith('postfix');
}

export function postfixEvent(line: LogLine): MailEvent | undefined {
  const service = line.program.slice(line.program.lastIndexOf('/') + 1);
  const { message } = line;
  if (service === 'smtpd') return smtpdEvent(`${line.host}/${line.program}[${line.pid}]`, message);
  const colon = message.indexOf(': ');
  if (colon === -1) return undefined;
  const queueId = message.slice(0, colon);
  const rest = message.slice(colon + 2);
  if (service === 'qmgr') {
    if (rest === 'removed') return { kind: 'removed', queueId };
    if (!rest.startsWith('from=<')) return undefined;
    const end = rest.indexOf('>, ');
    const size = /, size=(\d+)/.exec(rest);
    const nrcpt = /, nrcpt=(\d+)/.exec(rest);
    if (end === -1 || !size) return undefined; // "from=<x>, status=expired, returned to sender"
    return { kind: 'sender', queueId, sender: rest.slice(6, end), size: Number(size[1]), ...(nrcpt ? { recipients: Number(nrcpt[1]) } : {}) };
  }
  if (rest.startsWith('to=<')) {
    // The address the client gave at RCPT is orig_to= when aliasing or rewriting changed it.
    const end = rest.indexOf('>, ');
    if (end === -1) return undefined;
    const orig = /, orig_to=<([^>]*)>/.exec(rest);
    return { kind: 'delivery', queueId, recipients: [orig ? orig[1]! : rest.slice(4, end)] };
  }
  return undefined;
}

function smtpdEvent(session: string, message: string): MailEvent | undefined {
  if (message.startsWith('connect from ')) return { kind: 'connect', session, ...clientFrom(message.slice(13)) };
  if (message.startsWith('disconnect from ')) return { kind: 'disconnect', session };
  const colon = message.indexOf(': ');
  if (colon === -1) return undefined;
  const id = message.slice(0, colon);
  const rest = message.slice(colon + 2);
  if (rest.startsWith('client=')) {
    const fields = rest.slice(7).split(', ');
    const sasl = fields.find((f) => f.startsWith('sasl_username='));
    return { kind: 'client', session, queueId: id, ...clientFrom(fields[0]!), ...(sasl ? { authUser: sasl.slice(14) } : {}) };
  }
  return refusal(session, id === 'NOQUEUE' ? undefined : id, rest);
}

/**
 * `reject: RCPT from name[ip]: 550 5.1.1 <x>: Recipient address rejected: ...; from=<s> to=<r>
 * proto=ESMTP helo=<h>`: Postfix's own refusal (`reject`) or a milter's (`milter-reject`).
 */
function refusal(session: string, queueId: string | undefined, rest: string): MailEvent | undefined {
  const byMta = rest.startsWith('reject: ');
  if (!byMta && !rest.startsWith('milter-reject: ')) return undefined;
  const afterKind = rest.slice(byMta ? 8 : 15);
  const space = afterKind.indexOf(' from ');
  const stage = STAGES[afterKind.slice(0, space)];
  if (space === -1 || !stage) return undefined;
  const clientEnd = afterKind.indexOf(']: ', space);
  if (clientEnd === -1) return undefined;
  const client = clientFrom(afterKind.slice(space + 6, clientEnd + 1));
  // The envelope is at the end; a reply text could contain "; from=<", so take the last one.
  const envelope = afterKind.lastIndexOf('; from=<');
  const reply = afterKind.slice(clientEnd + 3, envelope === -1 ? undefined : envelope);
  const tail = envelope === -1 ? '' : afterKind.slice(envelope + 2);
  const { sender, recipient, helo } = envelopeOf(tail);
  return {
    kind: 'refused', session, stage, byMta, reply, ...client,
    ...(queueId ? { queueId } : {}),
    ...(sender !== undefined ? { sender } : {}),
    ...(recipient !== undefined ? { recipient } : {}),
    ...(helo !== undefined ? { helo } : {}),
  };
}

/**
 * `from=<s> to=<r> proto=ESMTP helo=<h>` (to= only at RCPT). A quoted local part may hold `>` and
 * spaces, so each value runs to the next field's marker, not to the first `>`.
 */
function envelopeOf(tail: string): { sender?: string; recipient?: string; helo?: string } {
  if (!tail.startsWith('from=<')) return {};
  const proto = tail.lastIndexOf('> proto=');
  if (proto === -1) return {};
  const to = tail.lastIndexOf('> to=<', proto);
  const heloAt = tail.indexOf(' helo=<', proto);
  const end = tail.lastIndexOf('>');
  return {
    sender: tail.slice(6, to === -1 ? proto : to),
    ...(to === -1 ? {} : { recipient: tail.slice(to + 6, proto) }),
    ...(heloAt === -1 || end <= heloAt ? {} : { helo: tail.slice(heloAt + 7, end) }),
  };
}
