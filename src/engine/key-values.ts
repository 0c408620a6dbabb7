// Turns facts into the store key of a key class: 'ip:192.0.2.1', 'ip+sender:192.0.2.1|a@example.org'.
import type { BaseKeyClass, Facts, KeyClass, KeyClassSettings } from '../rules/rule-set';
import { networkOf } from '../net/normalise';

/** The value of one base class for these facts, or undefined when the event does not carry it. */
function partValue(part: BaseKeyClass, facts: Facts, settings: KeyClassSettings): string | undefined {
  switch (part) {
    case 'ip':
      return facts.clientIp;
    case 'network':
      return facts.clientIp === undefined ? undefined : networkOf(facts.clientIp, settings.ipv4Prefix, settings.ipv6Prefix);
    case 'helo':
      return facts.helo;
    case 'sender':
      // The null sender is a key of its own, spelled as on the wire.
      return facts.sender === undefined ? undefined : facts.sender === '' ? '<>' : facts.sender;
    case 'sender_domain':
      return facts.senderDomain;
    case 'recipient':
      return facts.recipient;
    case 'recipient_domain':
      return facts.recipientDomain;
    case 'auth_user':
      return facts.authUser;
  }
}

/**
 * The store key, or undefined when a part is missing (a recipient key at MAIL time). Parts are
 * joined with '|'; a hostile HELO may contain '|', so '|' and '%' inside values are escaped and
 * two different combinations can never produce the same key.
 */
export function keyFor(keyClass: KeyClass, parts: readonly BaseKeyClass[], facts: Facts, settings: KeyClassSettings): string | undefined {
  // Most classes have one part: no list to join (this runs for every key of every event).
  if (parts.length === 1) {
    const value = partValue(parts[0]!, facts, settings);
    return value === undefined || value === '' ? undefined : `${keyClass}:${escaped(value)}`;
  }
  const values: string[] = [];
  // Indexed: `parts` is frozen with the rule set, and a for-of over a frozen array allocates.
  for (let i = 0; i < parts.length; i++) {
    const value = partValue(parts[i]!, facts, settings);
    if (value === undefined || value === '') return undefined;
    values.push(escaped(value));
  }
  return `${keyClass}:${values.join('|')}`;
}

function escaped(value: string): string {
  return value.includes('|') || value.includes('%') ? value.replace(/%/g, '%25').replace(/\|/g, '%7C') : value;
}
