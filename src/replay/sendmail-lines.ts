// Sendmail's log lines as mail events, at Debian's default LogLevel 9: a message's from= line
// (its client in relay=), its delivery to= lines, the recipients the rulesets (check_rcpt) or a
// milter refused, and, at LogLevel 10 and above, each connection's `connect from`.
import { bareAddress, clientFrom, type MailEvent } from './mail-events';
import type { LogLine } from './log-line';

export function isSendmail(program: string): boolean {
  return program === 'sendmail' || program === 'sm-mta' || program === 'sm-msp-queue';
}

export function sendmailEvent(line: LogLine): MailEvent | undefined {
  const session = `${line.host}/${line.program}[${line.pid}]`;
  const { message } = line;
  const colon = message.indexOf(': ');
  if (colon === -1) return undefined;
  const id = message.slice(0, colon);
  const rest = message.slice(colon + 2);
  if (id === 'NOQUEUE') {
    return rest.startsWith('connect from ') ? { kind: 'connect', session, ...clientFrom(rest.slice(13)) } : undefined;
  }
  if (rest.startsWith('from=')) {
    const fields = fieldsOf(rest);
    const relay = fields.get('relay');
    const size = Number(fields.get('size'));
    const nrcpts = Number(fields.get('nrcpts'));
    return {
      kind: 'sender', queueId: id, session, sender: bareAddress(fields.get('from') ?? ''),
      ...(Number.isFinite(size) ? { size } : {}), ...(Number.isFinite(nrcpts) ? { recipients: nrcpts } : {}),
      ...(relay ? clientFrom(relay) : {}),
    };
  }
  if (rest.startsWith('to=')) {
    const to = fieldsOf(rest).get('to') ?? '';
    return { kind: 'delivery', queueId: id, recipients: to.split(',').map((a) => bareAddress(a.trim())).filter(Boolean) };
  }
  if (rest.startsWith('Milter: to=') || rest.startsWith('Milter: from=')) {
    const fields = fieldsOf(rest.slice(8));
    const reply = fields.get('reject') ?? '';
    const to = fields.get('to');
    return {
      kind: 'refused', session, queueId: id, byMta: false, reply, stage: to === undefined ? 'mail' : 'rcpt',
      ...(to === undefined ? { sender: bareAddress(fields.get('from') ?? '') } : { recipient: bareAddress(to) }),
    };
  }
  if (rest.startsWith('ruleset=check_rcpt, ')) {
    const fields = fieldsOf(rest);
    const relay = fields.get('relay');
    return { kind: 'refused', session, queueId: id, byMta: true, stage: 'rcpt', reply: fields.get('reject') ?? '', recipient: bareAddress(fields.get('arg1') ?? ''), ...(relay ? clientFrom(relay) : {}) };
  }
  return undefined;
}

/**
 * `name=value, name=value`; the last field (reject=, stat=) may hold ", " in its text, so a piece
 * without `=` belongs to the field before it.
 */
function fieldsOf(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  let last: string | undefined;
  for (const piece of text.split(', ')) {
    const eq = piece.indexOf('=');
    const name = eq > 0 ? piece.slice(0, eq) : '';
    if (eq > 0 && /^[a-z_0-9]+$/i.test(name)) {
      last = name;
      fields.set(name, piece.slice(eq + 1));
    } else if (last !== undefined) {
      fields.set(last, `${fields.get(last)!}, ${piece}`);
    }
  }
  return fields;
}
