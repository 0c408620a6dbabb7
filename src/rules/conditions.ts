// Compiles a rule's `when` into a Condition, and refuses facts the rule's events never carry.
import type { Condition, Facts, ListingFacts, ReputationFact, ReverseDnsStatus, RuleEvent } from './rule-set';
import { buildSet, inlineEntries, type NamedList } from './lists';
import { compilePattern } from './pattern';
import { normaliseAddress, normaliseHost } from '../net/normalise';
import { durationMs } from '../config/duration';
import { compileAttachment, compileKeywords } from './content-conditions';
import type { IpMatcherSpec, ListingMatcherSpec, ListKind, NodePath, RulesSource, TextMatcherSpec, WhenSpec } from './schema';

type Value = string | undefined;
type TextFact = 'client_name' | 'helo' | 'sender' | 'sender_domain' | 'recipient' | 'recipient_domain' | 'auth_user';

const ALL: readonly RuleEvent[] = ['connect', 'helo', 'mail', 'rcpt', 'header', 'eom'];
const FROM_HELO: readonly RuleEvent[] = ['helo', 'mail', 'rcpt', 'header', 'eom'];
// Postfix and Sendmail send {auth_authen} with MAIL FROM, so the login is known from there on.
const FROM_MAIL: readonly RuleEvent[] = ['mail', 'rcpt', 'header', 'eom'];
// At end of message there may be many recipients: no single one is "the" recipient.
const AT_RCPT: readonly RuleEvent[] = ['rcpt'];
// The client's SIZE= at MAIL, the bytes received at end of message.
const SIZE_EVENTS: readonly RuleEvent[] = ['mail', 'eom'];
const HEADERS_KNOWN: readonly RuleEvent[] = ['header', 'eom'];
const BODY_KNOWN: readonly RuleEvent[] = ['eom'];
/** What reading the parsed body asks of the MTA: the fields that declare its structure, and the body. */
const PARSED_BODY = { headers: true, body: true, parseBody: true } as const;

/** Domain-like facts match a domain and its subdomains; address-like facts match exactly. */
const TEXT_FACTS: Record<TextFact, { kind: 'domain' | 'address'; events: readonly RuleEvent[]; read(f: Facts): Value }> = {
  client_name: { kind: 'domain', events: ALL, read: (f) => f.clientName },
  helo: { kind: 'domain', events: FROM_HELO, read: (f) => f.helo },
  sender: { kind: 'address', events: FROM_MAIL, read: (f) => f.sender },
  sender_domain: { kind: 'domain', events: FROM_MAIL, read: (f) => f.senderDomain },
  recipient: { kind: 'address', events: AT_RCPT, read: (f) => f.recipient },
  recipient_domain: { kind: 'domain', events: AT_RCPT, read: (f) => f.recipientDomain },
  auth_user: { kind: 'address', events: FROM_MAIL, read: (f) => f.authUser },
};
const LIST_KINDS_FOR = { domain: ['domains', 'patterns'], address: ['addresses', 'patterns'] } as const;
/** Sendmail's macro names: one character, or a braced word. */
const MACRO_NAME = /^(\{[A-Za-z0-9_]+\}|[A-Za-z0-9])$/;

export const ALWAYS: Condition = () => true;

/** What compiling one rule's conditions needs to know, and what it learns (lists used, size read). */
export interface ConditionScope {
  readonly source: RulesSource;
  readonly rule: string;
  readonly events: readonly RuleEvent[];
  readonly lists: ReadonlyMap<string, NamedList>;
  /** Lists declared in the file, including ones that failed to compile (already reported). */
  readonly declaredLists: ReadonlySet<string>;
  readonly usedLists: Set<string>;
  /** What of the message the rule reads: the MTA is asked for headers and body only when some rule does. */
  readonly message: { headers: boolean; body: boolean; parseBody: boolean };
  /** Finders of the attachment that made an `attachment` condition hold, for the reply's `{attachment}`. */
  readonly attachmentFinders: Array<(f: Facts) => string | undefined>;
  /** Names of the DNS lists the file declares, per kind; undefined when it declares none. */
  readonly dnsLists: { readonly dnsbl?: ReadonlySet<string>; readonly rhsbl?: ReadonlySet<string> };
  readonly hasRecipientMap: boolean;
  /** Facts needing a lookup that this rule reads. */
  readonly reads: Set<ReputationFact>;
}

/** All entries must hold (AND); an absent or empty `when` always holds. */
export function compileWhen(when: WhenSpec | undefined, path: NodePath, scope: ConditionScope): Condition {
  if (when === undefined) return ALWAYS;
  const parts: Condition[] = [];
  for (const field of Object.keys(when) as Array<keyof WhenSpec>) {
    const at = [...path, field];
    switch (field) {
      case 'not': {
        const inner = compileWhen(when.not, at, scope);
        parts.push((f) => !inner(f));
        break;
      }
      case 'any': {
        const alternatives = (when.any ?? []).map((w, i) => compileWhen(w, [...at, i], scope));
        parts.push((f) => alternatives.some((c) => c(f)));
        break;
      }
      case 'macros':
        for (const [name, spec] of Object.entries(when.macros ?? {})) parts.push(compileMacro(name, spec, [...at, name], scope));
        break;
      case 'size': {
        requireEvents('size', SIZE_EVENTS, at, scope);
        // At eom the size is counted from the body chunks: the MTA must stream the body.
        if (scope.events.includes('eom')) scope.message.body = true;
        const over = when.size?.over ?? 0;
        parts.push((f) => f.size !== undefined && f.size > over);
        break;
      }
      case 'session_age': {
        const over = durationMs(when.session_age?.over ?? 0);
        parts.push((f) => f.sessionAgeMs !== undefined && f.sessionAgeMs > over);
        break;
      }
      case 'keywords': {
        const keywords = compileKeywords(when.keywords!, at, scope.source);
        requireEvents('keywords', keywords.readsBody ? BODY_KNOWN : HEADERS_KNOWN, at, scope);
        // Parsing the body needs the header fields that declare its MIME structure.
        scope.message.headers = true;
        scope.message.body ||= keywords.readsBody;
        scope.message.parseBody ||= keywords.readsBody;
        parts.push(keywords.test);
        break;
      }
      case 'attachment': {
        requireEvents('attachment', BODY_KNOWN, at, scope);
        Object.assign(scope.message, PARSED_BODY);
        const attachment = compileAttachment(when.attachment!, at, scope.source);
        scope.attachmentFinders.push(attachment.find);
        parts.push(attachment.test);
        break;
      }
      case 'unparseable': {
        requireEvents('unparseable', BODY_KNOWN, at, scope);
        Object.assign(scope.message, PARSED_BODY);
        const wanted = when.unparseable;
        parts.push((f) => f.content !== undefined && (f.content.unparseable !== undefined) === wanted);
        break;
      }
      case 'rejected_by_mta': {
        requireEvents('rejected_by_mta', AT_RCPT, at, scope);
        const wanted = when.rejected_by_mta;
        parts.push((f) => f.recipientRejectedByMta === wanted);
        break;
      }
      case 'client_ip':
        parts.push(compileIpMatcher(when.client_ip ?? {}, at, scope));
        break;
      case 'dnsbl':
      case 'rhsbl':
        requireEvents(field, field === 'dnsbl' ? ALL : FROM_HELO, at, scope);
        parts.push(compileListingMatcher(field, when[field] ?? {}, at, scope));
        break;
      case 'reverse_dns': {
        scope.reads.add('reverse_dns');
        const wanted = new Set<ReverseDnsStatus>(typeof when.reverse_dns === 'string' ? [when.reverse_dns] : (when.reverse_dns ?? []));
        parts.push((f) => f.reverseDns !== undefined && wanted.has(f.reverseDns));
        break;
      }
      case 'recipient_known': {
        requireEvents(field, AT_RCPT, at, scope);
        if (!scope.hasRecipientMap) scope.source.error(at, `"recipient_known" needs a recipients map (rule "${scope.rule}")`, true);
        scope.reads.add('recipient_known');
        const known = when.recipient_known;
        // A recipient outside the map's domains is neither known nor unknown: it matches neither test.
        parts.push((f) => f.recipientKnown === known);
        break;
      }
      default:
        requireEvents(field, TEXT_FACTS[field].events, at, scope);
        parts.push(compileTextMatcher(field, when[field] ?? {}, at, scope));
    }
  }
  return all(parts);
}

function all(parts: readonly Condition[]): Condition {
  if (parts.length === 0) return ALWAYS;
  if (parts.length === 1) return parts[0];
  return (f) => parts.every((c) => c(f));
}

/** A rule on `connect` cannot read the recipient: that is a mistake in the file, not a rule that never fires. */
function requireEvents(fact: string, known: readonly RuleEvent[], at: NodePath, scope: ConditionScope): void {
  const missing = scope.events.filter((e) => !known.includes(e));
  if (missing.length === 0) return;
  const only = known.length === 1 ? `only at ${known[0]}` : `only at ${known.join(', ')}`;
  scope.source.error(at, `"${fact}" is not known at ${missing.join(', ')}: it is available ${only} (rule "${scope.rule}")`, true);
}

function compileIpMatcher(spec: IpMatcherSpec, at: NodePath, scope: ConditionScope): Condition {
  const tests: Array<(v: Value) => boolean> = [];
  if (spec.in !== undefined) {
    const set = buildSet('cidr', inlineEntries(spec.in, [...at, 'in'], scope.source));
    tests.push((v) => v !== undefined && set.has(v));
  }
  if (spec.list !== undefined) {
    const list = lookupList(spec.list, ['cidr'], 'client_ip', [...at, 'list'], scope);
    if (list) tests.push((v) => v !== undefined && list.set.has(v));
  }
  return (f) => tests.every((t) => t(f.clientIp));
}

/** `dnsbl`/`rhsbl`: the weighted score against a bound, or a listing on one of the named lists. */
function compileListingMatcher(fact: 'dnsbl' | 'rhsbl', spec: ListingMatcherSpec, at: NodePath, scope: ConditionScope): Condition {
  const declared = scope.dnsLists[fact];
  if (declared === undefined) scope.source.error(at, `"${fact}" needs lists in the ${fact} section (rule "${scope.rule}")`, true);
  scope.reads.add(fact);
  const tests: Array<(v: ListingFacts) => boolean> = [];
  const { above, below, listed_on: names } = spec;
  if (above !== undefined) tests.push((v) => v.score > above);
  if (below !== undefined) tests.push((v) => v.score < below);
  if (names !== undefined) {
    names.forEach((name, i) => {
      if (declared !== undefined && !declared.has(name)) scope.source.error([...at, 'listed_on', i], `${fact} list "${name}" is not defined in the ${fact} section`);
    });
    tests.push((v) => names.some((name) => v.listedOn.has(name)));
  }
  // No answer (lists not queried, every lookup failed) is "not listed": score 0.
  return (f) => {
    const value = f[fact] ?? NOT_LISTED;
    return tests.every((t) => t(value));
  };
}

const NOT_LISTED: ListingFacts = { score: 0, listedOn: new Set() };

function compileTextMatcher(fact: TextFact, spec: TextMatcherSpec, at: NodePath, scope: ConditionScope): Condition {
  const { kind, read } = TEXT_FACTS[fact];
  const tests: Array<(v: Value) => boolean> = [];
  if (spec.in !== undefined) {
    const set = buildSet(kind === 'domain' ? 'domains' : 'addresses', inlineEntries(spec.in, [...at, 'in'], scope.source));
    tests.push((v) => v !== undefined && set.has(v));
  }
  if (spec.list !== undefined) {
    const list = lookupList(spec.list, LIST_KINDS_FOR[kind], fact, [...at, 'list'], scope);
    if (list) tests.push((v) => v !== undefined && list.set.has(v));
  }
  if (spec.matches !== undefined) tests.push(patternTest(spec.matches, [...at, 'matches'], scope));
  if (spec.equals !== undefined) {
    // Facts are normalised, so the configured value is too: `equals: Joe@Example.ORG` still matches.
    const wanted = kind === 'domain' ? normaliseHost(spec.equals) : normaliseAddress(spec.equals);
    tests.push((v) => v === wanted);
  }
  if (spec.present !== undefined) {
    const present = spec.present;
    tests.push((v) => (v !== undefined) === present);
  }
  const nullSender = spec.null ?? spec[''];
  if (nullSender !== undefined) {
    const isNull = nullSender;
    tests.push((v) => v !== undefined && (v === '') === isNull);
  }
  return (f) => {
    const value = read(f);
    return tests.every((t) => t(value));
  };
}

/** Macros are compared as the MTA sent them: `equals` is exact, `matches` ignores case. */
function compileMacro(name: string, spec: Pick<TextMatcherSpec, 'matches' | 'equals' | 'present'>, at: NodePath, scope: ConditionScope): Condition {
  if (!MACRO_NAME.test(name)) scope.source.error(at, `macro name "${name}" must be one character or a braced name such as "{auth_authen}"`, true);
  const tests: Array<(v: Value) => boolean> = [];
  if (spec.matches !== undefined) tests.push(patternTest(spec.matches, [...at, 'matches'], scope));
  if (spec.equals !== undefined) {
    const wanted = spec.equals;
    tests.push((v) => v === wanted);
  }
  if (spec.present !== undefined) {
    const present = spec.present;
    tests.push((v) => (v !== undefined) === present);
  }
  return (f) => {
    const value = f.macro(name);
    return tests.every((t) => t(value));
  };
}

function patternTest(source: string, at: NodePath, scope: ConditionScope): (v: Value) => boolean {
  const pattern = compilePattern(source);
  if (typeof pattern === 'string') {
    scope.source.error(at, pattern);
    return () => false;
  }
  return (v) => v !== undefined && pattern.test(v);
}

function lookupList(name: string, kinds: readonly ListKind[], fact: string, at: NodePath, scope: ConditionScope): NamedList | undefined {
  scope.usedLists.add(name);
  const list = scope.lists.get(name);
  if (list === undefined) {
    if (!scope.declaredLists.has(name)) scope.source.error(at, `list "${name}" is not defined in lists`);
    return undefined;
  }
  if (!kinds.includes(list.kind)) {
    const hint = fact === 'sender' || fact === 'recipient' ? ` (use ${fact}_domain for a list of domains)` : '';
    scope.source.error(at, `list "${name}" is a ${list.kind} list; ${fact} takes ${kinds.join(' or ')} lists${hint}`);
    return undefined;
  }
  return list;
}
