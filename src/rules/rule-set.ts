// The compiled, frozen form of a rules file: what the engine evaluates. Built only by the loader.
import type { RejectCode, SmtpReply, TempfailCode } from '../milter/reply-text';

/** SMTP events rules can count; `eom` carries the message size. */
export type RuleEvent = 'connect' | 'helo' | 'mail' | 'rcpt' | 'eom';

/** Single key classes; a combined class joins several with '+', e.g. 'ip+sender'. */
export const BASE_KEY_CLASSES = ['ip', 'network', 'helo', 'sender', 'sender_domain', 'recipient', 'recipient_domain', 'auth_user'] as const;
export type BaseKeyClass = (typeof BASE_KEY_CLASSES)[number];
/** 'ip', 'sender', or a combination such as 'ip+sender' (parts in the order written). */
export type KeyClass = string;

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
  macro(name: string): string | undefined;
}

export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

/** A compiled condition: true when the facts match. */
export type Condition = (facts: Facts) => boolean;

export interface Rule {
  readonly name: string;
  readonly location: SourceLocation;
  readonly events: ReadonlySet<RuleEvent>;
  readonly condition: Condition;
  /** Points per key class; 0 means "only check this key's thresholds". */
  readonly add: ReadonlyMap<KeyClass, number>;
  /** Allow-list: a match accepts at once (connection at connect/helo, message later), no further rules. */
  readonly ok: boolean;
  /** Log what the rule would have done, change nothing. */
  readonly observe: boolean;
}

export type ThresholdAction =
  | { kind: 'ok' }
  | { kind: 'continue' }
  | { kind: 'delay'; seconds: number }
  | { kind: 'tempfail'; reply?: SmtpReply<TempfailCode> }
  | { kind: 'reject'; reply?: SmtpReply<RejectCode> }
  | { kind: 'discard' };

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

export interface RuleSet {
  readonly source: string;
  readonly rules: readonly Rule[];
  readonly keyClasses: ReadonlyMap<KeyClass, KeyClassSettings>;
  readonly alert?: AlertSettings;
  /** Which events some rule listens to (the milter negotiates only these). */
  readonly events: ReadonlySet<RuleEvent>;
  /** Some rule reads the message size: only then is the MTA asked to stream the body. */
  readonly needsMessageSize: boolean;
  /** Warnings found while loading (unreachable thresholds, shadowed rules, long delays...). */
  readonly warnings: readonly string[];
}
