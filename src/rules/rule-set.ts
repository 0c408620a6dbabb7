// The compiled, frozen form of a rules file: what the engine evaluates. Built only by the loader.
import type { AnswerFilter } from '../net/answer-filter';
import type { TextPattern } from './pattern';
import type { RejectCode, SmtpReply, TempfailCode } from '../milter/reply-text';

/** SMTP events rules can count; `eom` carries the message size. */
export type RuleEvent = 'connect' | 'helo' | 'mail' | 'rcpt' | 'eom';

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
  /** Message size in bytes (eom only). */
  size?: number;
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

/** A fixed number of points, or the weighted score of the DNS lists that list the client. */
export type Points = number | 'dnsbl' | 'rhsbl';

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
}

export type ThresholdAction =
  | { kind: 'ok' }
  | { kind: 'continue' }
  | { kind: 'delay'; seconds: number }
  | { kind: 'tempfail'; reply?: SmtpReply<TempfailCode> }
  | { kind: 'reject'; reply?: SmtpReply<RejectCode> }
  | { kind: 'discard' };

/** What a rule itself may answer; the milder answers belong to thresholds. */
export type RuleAction = Extract<ThresholdAction, { kind: 'delay' | 'tempfail' | 'reject' }>;

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

export interface RuleSet {
  readonly source: string;
  readonly rules: readonly Rule[];
  readonly keyClasses: ReadonlyMap<KeyClass, KeyClassSettings>;
  readonly alert?: AlertSettings;
  /** Which events some rule listens to (the milter negotiates only these). */
  readonly events: ReadonlySet<RuleEvent>;
  readonly reputation: ReputationSettings;
  /** Some rule reads the message size: only then is the MTA asked to stream the body. */
  readonly needsMessageSize: boolean;
  /** Warnings found while loading (unreachable thresholds, shadowed rules, long delays...). */
  readonly warnings: readonly string[];
}
