// Compiles a rule's changes to a message (subject prefix, headers, redirect, quarantine) and checks them.
import type { MessageMarks, MessageNeeds, Rule, RuleEvent } from './rule-set';
import type { HeaderMarkSpec, NodePath, RuleSpec, RulesSource } from './schema';

const HEADER_NAME = /^[\x21-\x39\x3b-\x7e]+$/; // RFC 5322 ftext: printable ASCII except ':'
const LINE_BREAK = /[\r\n\0]/;
/** Only these may be named in a redirect address: they are known for every message. */
const REDIRECT_PLACEHOLDERS = /\{(recipient_domain|sender_domain)\}/g;
const ADDRESS = /^[^\s@<>(),;:"\\]+@[^\s@<>(),;:"\\]+$/;
/** Postfix keeps only the first 100 characters of a quarantine reason. */
const POSTFIX_REASON_LENGTH = 100;
/** Modifications exist only at end of message; header-stage rules' marks are kept until then. */
const MARK_EVENTS: readonly RuleEvent[] = ['header', 'eom'];

export type MarkKind = MessageNeeds['marks'] extends ReadonlySet<infer K> ? K : never;

/** The rule's marks, or undefined when it has none; problems are reported to `source`. */
export function compileMarks(r: RuleSpec, path: NodePath, events: readonly RuleEvent[], source: RulesSource): MessageMarks | undefined {
  const written = (['subject_prefix', 'header', 'redirect', 'quarantine'] as const).filter((f) => r[f] !== undefined);
  if (written.length === 0) return undefined;
  const early = events.filter((e) => !MARK_EVENTS.includes(e));
  if (early.length > 0) source.error([...path, written[0]], `${written.join(', ')} change the message, which exists only from header on; rule "${r.name}" is on ${early.join(', ')}`, true);
  if (r.ok) source.error(path, `rule "${r.name}" has ok: true and ${written.join(', ')}: an allow-list rule changes nothing`);
  const headers = (r.header === undefined ? [] : Array.isArray(r.header) ? r.header : [r.header]).map((h: HeaderMarkSpec, i: number) => {
    checkHeaderMark(h, Array.isArray(r.header) ? [...path, 'header', i] : [...path, 'header'], source);
    return { name: h.name, value: h.value };
  });
  if (r.subject_prefix !== undefined && LINE_BREAK.test(r.subject_prefix)) source.error([...path, 'subject_prefix'], 'subject_prefix contains CR, LF or NUL');
  if (r.redirect !== undefined) {
    const sample = r.redirect.replace(REDIRECT_PLACEHOLDERS, 'example.org');
    if (/[{}]/.test(sample)) source.error([...path, 'redirect'], `redirect "${r.redirect}" names an unknown value: only {recipient_domain} and {sender_domain} are known`);
    else if (!ADDRESS.test(sample)) source.error([...path, 'redirect'], `redirect "${r.redirect}" is not an address`);
  }
  if (r.quarantine !== undefined) {
    if (LINE_BREAK.test(r.quarantine)) source.error([...path, 'quarantine'], 'quarantine reason contains CR, LF or NUL');
    if (r.quarantine.length > POSTFIX_REASON_LENGTH) source.warn([...path, 'quarantine'], `quarantine reason is ${r.quarantine.length} characters: Postfix keeps the first ${POSTFIX_REASON_LENGTH}`);
  }
  return {
    ...(r.subject_prefix !== undefined ? { subjectPrefix: r.subject_prefix } : {}),
    headers,
    ...(r.redirect !== undefined ? { redirect: r.redirect } : {}),
    ...(r.quarantine !== undefined ? { quarantine: r.quarantine } : {}),
  };
}

/** A header a rule or a threshold adds: a name the MTAs accept, a value on one line. */
export function checkHeaderMark(h: HeaderMarkSpec, at: NodePath, source: RulesSource): void {
  if (!HEADER_NAME.test(h.name)) source.error([...at, 'name'], `"${h.name}" is not a header name (printable ASCII, no ':' or space)`);
  if (LINE_BREAK.test(h.value)) source.error([...at, 'value'], 'header value contains CR, LF or NUL');
}

/** The kinds of change the enforced rules make (observe-only rules change nothing). */
export function markKinds(rules: readonly Rule[]): Set<MarkKind> {
  const kinds = new Set<MarkKind>();
  for (const { marks, observe } of rules) {
    if (!marks || observe) continue;
    if (marks.subjectPrefix !== undefined) kinds.add('subject_prefix');
    if (marks.headers.length > 0) kinds.add('header');
    if (marks.redirect !== undefined) kinds.add('redirect');
    if (marks.quarantine !== undefined) kinds.add('quarantine');
  }
  return kinds;
}

/** The redirect address of one message: the placeholders filled in (an empty domain leaves the template unusable). */
export function redirectAddress(template: string, values: { recipientDomain?: string; senderDomain?: string }): string | undefined {
  let missing = false;
  const address = template.replace(REDIRECT_PLACEHOLDERS, (_m, name: string) => {
    const value = name === 'recipient_domain' ? values.recipientDomain : values.senderDomain;
    if (!value) missing = true;
    return value ?? '';
  });
  return missing ? undefined : address;
}
