// The compiled, frozen form of a rules file: what the engine evaluates. Built only by the loader.
import type { AnswerFilter } from '../net/answer-filter';
import type { MessageContent } from '../content/message-content';
import type { TextPattern } from './pattern';
import type { RejectCode, SmtpReply, TempfailCode } from '../milter/reply-text';

/**
 * SMTP events rules can count. `header` is the end of the message's header block (its fields are
 * known, its body not yet); `eom` the end of the message (body text, attachments, size).
 */
export type RuleEvent = 'connect' | 'helo' | 'mail' | 'rcpt' | 'header' | 'eom';

/** Single key classes; a combined class joins several with '+', e.g. 'ip+sender'. */
export const BASE_KEY_CLASSES = ['ip', 'network', 'helo', 'sender', 'sender_domain', 'recipient', 'recipient_domain', 'auth_user'] as const;
export type BaseKeyClass = (typeof BASE_KEY_CLASSES)[number];
/** 'ip', 'sender', or a combination such as 'ip+sender' (parts in the order written). */
export type KeyClass = string;

/** What DNS lists say of the client: the summed weights of the lists that list it, and their names. */
export interface ListingFacts {
  readonly score: number;
  readonly listedOn: ReadonlySet<string>;
}

/**
 * The client's reverse DNS: no PTR; a PTR whose name does not resolve back to the address (FCrDNS
 * failure); a confirmed name that looks like an end-user line; a confirmed name; or no answer in time.
 */
export const REVERSE_DNS_STATUSES = ['none', 'unverified', 'dynamic', 'verified', 'unknown'] as const;
export type ReverseDnsStatus = (typeof REVERSE_DNS_STATUSES)[number];

/** Facts that need a lookup before the rules run; the handler fetches only those some rule reads. */
export type ReputationFact = 'dnsbl' | 'rhsbl' | 'reverse_dns' | 'recipient_known';

/** What the engine knows about the event being evaluated; values already normalised. */
export interface Facts {
  event: RuleEvent;
  clientIp?: string;
  /** Reverse-DNS name of the client, lower case, without the bracketed-address fallback. */
  clientName?: string;
  helo?: string;
  /** Bare address, lower case; '' for the null sender <>. */
  sender?: string;
  senderDomain?: string;
  recipient?: string;
  recipientDomain?: string;
  authUser?: string;
  /** The MTA itself refused this recipient (seen through SMFIP_RCPT_REJ). */
  recipientRejectedByMta?: boolean;
  /** Message size in bytes: at mail the client's SIZE= declaration (if any), at eom the bytes received. */
  size?: number;
  /** Since the MTA connection began (the SMTP session's age), in ms. */
  sessionAgeMs?: number;
  /** At header and eom: the message's recipients that no one refused, normalised, in RCPT order. */
  recipients?: readonly string[];
  /** At header: the header fields only (no text, no attachments); at eom: everything the scanner found. */
  content?: MessageContent;
  /** DNSBL/DNSWL lists on the client IP (when some rule reads them and lists are configured). */
  dnsbl?: ListingFacts;
  /** RHSBL lists on the HELO name and the sender domain, each list counted once. */
  rhsbl?: ListingFacts;
  reverseDns?: ReverseDnsStatus;
  /** The recipient map knows the recipient; undefined when the map does not cover its domain. */
  recipientKnown?: boolean;
  macro(name: string): string | undefined;
}

export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

/** A compiled condition: true when the facts match. */
export type Condition = (facts: Facts) => boolean;

/** A fixed number of points, the weighted score of the DNS lists that list the client, or the message's size in KiB. */
export type Points = number | 'dnsbl' | 'rhsbl' | 'size_kb';

/** What a rule changes in a message it lets through (applied at end of message, never in observe mode). */
export interface MessageMarks {
  /** Put before the Subject (once: never before a subject that already starts with it). */
  readonly subjectPrefix?: string;
  readonly headers: ReadonlyArray<{ readonly name: string; readonly value: string }>;
  /** Every recipient replaced by this address; `{recipient_domain}` and `{sender_domain}` are filled in. */
  readonly redirect?: string;
  /** Held in the MTA's quarantine (Postfix's hold queue) with this reason. */
  readonly quarantine?: string;
}

/** Values a rule's reply text and redirect address may name in braces. */
export interface TemplateValues {
  attachment?: string;
}

export interface Rule {
  readonly name: string;
  readonly location: SourceLocation;
  readonly events: ReadonlySet<RuleEvent>;
  readonly condition: Condition;
  /** Points per key class; 0 means "only check this key's thresholds". */
  readonly add: ReadonlyMap<KeyClass, Points>;
  /** Allow-list: a match accepts at once (connection at connect/helo, message later), no further rules. */
  readonly ok: boolean;
  /** Block-list or tarpit: a match answers this (after adding its points), unless something stronger applies. */
  readonly action?: RuleAction;
  /** Log what the rule would have done, change nothing. */
  readonly observe: boolean;
  /** Facts needing a lookup (DNS, recipient map) that the rule's condition or points read. */
  readonly reads: ReadonlySet<ReputationFact>;
  /** Changes to the message when it is let through (content rules at header and eom). */
  readonly marks?: MessageMarks;
  /** The values its reply text names ({attachment}: the attachment that made it match). */
  readonly templateValues?: (facts: Facts) => TemplateValues;
}

export type ThresholdAction =
  | { kind: 'ok' }
  | { kind: 'continue' }
  | { kind: 'delay'; seconds: number }
  | { kind: 'tempfail'; reply?: SmtpReply<TempfailCode> }
  | { kind: 'reject'; reply?: SmtpReply<RejectCode> }
  | { kind: 'discard' };

/** What a rule itself may answer; the milder answers belong to thresholds. */
export type RuleAction = Extract<ThresholdAction, { kind: 'delay' | 'tempfail' | 'reject' | 'discard' }>;

export interface Threshold {
  readonly location: SourceLocation;
  /** Applies when score > above (or, for `below`, when score < below). */
  readonly above?: number;
  readonly below?: number;
  readonly action: ThresholdAction;
  /** Side actions. */
  readonly log: boolean;
  readonly mail: boolean;
  readonly delete: boolean;
  readonly header?: { name: string; value: string };
  readonly observe: boolean;
}

export interface KeyClassSettings {
  /** The class's base parts in key order ('ip+sender' -> ip, sender), split once at load. */
  readonly parts: readonly BaseKeyClass[];
  readonly halfLifeMs: number;
  /** Prefix lengths for the `network` part of a key. */
  readonly ipv4Prefix: number;
  readonly ipv6Prefix: number;
  /** Thresholds sorted by `above` ascending (`below` entries first). */
  readonly thresholds: readonly Threshold[];
}

export interface AlertSettings {
  /** SMTP relay for alert mail, host and port. */
  readonly relay: { host: string; port: number };
  readonly from: string;
  readonly to: readonly string[];
  /** One alert per key per cooldown, so a flood sends one mail, not thousands. */
  readonly cooldownMs: number;
}

/** One DNS list: queried as <reversed IP or domain>.<zone>; an answer the filters pass adds `weight`. */
export interface DnsListSettings {
  readonly name: string;
  readonly zone: string;
  /** Empty: any answer in 127.0.0.0/8 that is not an error code. */
  readonly filters: readonly AnswerFilter[];
  /** Negative for allow-lists (DNSWL). */
  readonly weight: number;
}

export const RECIPIENT_MAP_TYPES = ['list', 'text', 'hash', 'lmdb', 'cdb', 'btree'] as const;
export type RecipientMapType = (typeof RECIPIENT_MAP_TYPES)[number];

export interface RecipientMapSettings {
  readonly type: RecipientMapType;
  /** Absolute; for compiled maps the path given to postmap (without .db). */
  readonly path: string;
  /** Postfix recipient_delimiter: user+ext@domain is looked up as user@domain too ('' for none). */
  readonly delimiter: string;
  /** Domains the map answers for besides those of its keys. */
  readonly domains: readonly string[];
  /** Postfix configuration directory for postmap -c (a postmulti instance); unset: postmap's default. */
  readonly postfixConfig?: string;
}

/** Checks that need DNS or the recipient map, and which events' rules read their results. */
export interface ReputationSettings {
  readonly dnsbl: readonly DnsListSettings[];
  readonly rhsbl: readonly DnsListSettings[];
  /** Names of end-user lines (dynamic pools, DSL, cable): the `dynamic` reverse-DNS status; unset: the shipped patterns. */
  readonly dynamicPtr?: readonly TextPattern[];
  readonly recipients?: RecipientMapSettings;
  readonly reads: ReadonlyMap<RuleEvent, ReadonlySet<ReputationFact>>;
}

/** Limits of the message scanner (the rules file's `content` section); unset: the scanner's defaults. */
export interface ScanSettings {
  readonly maxScanBytes?: number;
  readonly maxParts?: number;
  readonly maxDepth?: number;
}

export interface MessageNeeds {
  /** Some rule reads header fields (keywords in headers): the MTA sends the headers. */
  readonly headers: boolean;
  /** Some rule reads the body (text, attachments, the size received, could-not-parse), or copies it: the MTA streams it. */
  readonly body: boolean;
  /** The body's MIME structure is parsed (text, attachments, could-not-parse): not for its size alone. */
  readonly parseBody: boolean;
  /** The kinds of change the rules make, so that the milter asks the MTA for those rights only. */
  readonly marks: ReadonlySet<'subject_prefix' | 'header' | 'redirect' | 'quarantine'>;
  readonly scan: ScanSettings;
}

/** One `track:` entry: the messages it matches are kept whole in a folder of its name. */
export interface TrackRule {
  readonly name: string;
  readonly location: SourceLocation;
  /** Holds for the message when it holds for one of its recipients (facts as at RCPT). */
  readonly condition: Condition;
  /** Only messages for which one of these rules fired (any stage); unset: any. */
  readonly rules?: ReadonlySet<string>;
}

export interface RuleSet {
  readonly source: string;
  readonly rules: readonly Rule[];
  readonly keyClasses: ReadonlyMap<KeyClass, KeyClassSettings>;
  readonly alert?: AlertSettings;
  /** Which events some rule listens to (the milter negotiates only these). */
  readonly events: ReadonlySet<RuleEvent>;
  readonly reputation: ReputationSettings;
  /** What of the message itself the rules read or change: the MTA is asked for only that. */
  readonly message: MessageNeeds;
  /** Tracking copies; empty when the file has no `track:` (then no message is copied, and no body asked for). */
  readonly track: readonly TrackRule[];
  /** Warnings found while loading (unreachable thresholds, shadowed rules, long delays...). */
  readonly warnings: readonly string[];
}
