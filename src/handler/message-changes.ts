// From the marks of the content rules that matched to the milter's end-of-message modifications.
import type { Modification } from '../milter/replies';
import { domainOf, normaliseAddress } from '../net/normalise';
import type { MessageMarks } from '../rules/rule-set';
import { redirectAddress } from '../rules/message-marks';

/** The header that keeps a redirected message's original recipients. */
export const ORIGINAL_RECIPIENTS_HEADER = 'X-Floodgate-Original-Recipients';
/** A header line the MTAs and readers handle; the recipients beyond it are counted, not listed. */
const MAX_ORIGINAL_RECIPIENTS_LENGTH = 900;

export interface MarkedMessage {
  /** Recipients as the MTA sent them in RCPT (DELRCPT must name them so). */
  readonly recipients: readonly string[];
  readonly sender: string;
  /** The first Subject field's value as sent (RFC 2047 words still encoded); undefined: none. */
  readonly rawSubject: string | undefined;
  /** The same, decoded: what "already prefixed" is judged on. */
  readonly subject: string | undefined;
}

/**
 * The modifications for one message let through. Several rules may mark it: every header is
 * added once; the first rule's subject prefix, redirect and quarantine reason apply (a subject is
 * prefixed once, a message goes to one spambox).
 */
export function messageChanges(marks: readonly MessageMarks[], message: MarkedMessage): Modification[] {
  const changes: Modification[] = [];
  const seen = new Set<string>();
  for (const m of marks) {
    for (const h of m.headers) {
      const id = `${h.name.toLowerCase()}\0${h.value}`;
      if (seen.has(id)) continue;
      seen.add(id);
      changes.push({ kind: 'addHeader', name: h.name, value: h.value });
    }
  }
  const prefix = marks.find((m) => m.subjectPrefix !== undefined)?.subjectPrefix;
  if (prefix !== undefined) changes.push(...prefixSubject(prefix, message));
  const redirect = marks.find((m) => m.redirect !== undefined)?.redirect;
  if (redirect !== undefined) changes.push(...redirected(redirect, message));
  const quarantine = marks.find((m) => m.quarantine !== undefined)?.quarantine;
  if (quarantine !== undefined) changes.push({ kind: 'quarantine', reason: quarantine });
  return changes;
}

/**
 * CHGHEADER of the first Subject (the MTA adds the space after the colon). Never doubled: a subject
 * that already starts with the prefix is left alone (a resent or replied-to message). RFC 2047
 * safe: an ASCII prefix goes before the encoded words as they are, separated from an encoded word
 * by a space; a prefix with other characters is itself sent as an encoded word.
 */
function prefixSubject(prefix: string, message: MarkedMessage): Modification[] {
  const trimmed = prefix.trim();
  if (message.subject !== undefined && message.subject.trimStart().startsWith(trimmed)) return [];
  const written = /^[\x20-\x7e]*$/.test(prefix) ? prefix : `=?UTF-8?B?${Buffer.from(prefix, 'utf8').toString('base64')}?= `;
  if (message.rawSubject === undefined) return [{ kind: 'addHeader', name: 'Subject', value: written.trim() }];
  const raw = message.rawSubject.replace(/^[ \t]+/, '');
  const separator = /\s$/.test(written) || !raw.startsWith('=?') ? '' : ' ';
  return [{ kind: 'changeHeader', index: 1, name: 'Subject', value: `${written}${separator}${raw}` }];
}

/** Every recipient removed, the spambox added, the original recipients kept in a header. */
function redirected(template: string, message: MarkedMessage): Modification[] {
  const originals = message.recipients.map(normaliseAddress);
  const address = redirectAddress(template, { recipientDomain: originals[0] ? domainOf(originals[0]) : undefined, senderDomain: domainOf(normaliseAddress(message.sender)) });
  // No domain to fill in (a null sender, no recipient): the message is left with its recipients.
  if (address === undefined || originals.length === 0) return [];
  return [
    ...message.recipients.map((recipient): Modification => ({ kind: 'deleteRecipient', recipient })),
    { kind: 'addRecipient', recipient: `<${address}>` },
    { kind: 'addHeader', name: ORIGINAL_RECIPIENTS_HEADER, value: listed(originals) },
  ];
}

function listed(addresses: readonly string[]): string {
  let value = '';
  for (let i = 0; i < addresses.length; i++) {
    const next = value === '' ? addresses[i]! : `${value}, ${addresses[i]}`;
    if (next.length > MAX_ORIGINAL_RECIPIENTS_LENGTH) return `${value} (and ${addresses.length - i} more)`;
    value = next;
  }
  return value;
}
