// What the scoring handler reports as it works: answers with what decided them, rule matches, threshold
// crossings, store failures, alert mails. Metrics, the status page and the answer log line listen.
import type { ScoredKey } from '../engine/decide';
import type { KeyClass, RuleEvent, ThresholdAction } from '../rules/rule-set';

export type AnswerKind = Exclude<ThresholdAction['kind'], 'continue'>;

/** One answer other than continue, with what decided it and who it was for. */
export interface AnswerRecord {
  /** Milliseconds since the epoch. */
  time: number;
  conn: string;
  event: RuleEvent;
  answer: AnswerKind;
  /** True when `mode: observe` kept the answer from being given: it is what Floodgate would have done. */
  would: boolean;
  delaySeconds?: number;
  /** The reply code and text of a tempfail or reject, as sent. */
  reply?: string;
  /** The MTA's queue id (macro `i`), when it has one yet: Postfix opens the queue file at the first accepted RCPT. */
  queueId?: string;
  clientIp?: string;
  clientName?: string;
  helo?: string;
  sender?: string;
  recipient?: string;
  /** The rule behind the answer: the allow-list rule, the rule with its own answer, or a rule that counted on the key. */
  rule?: string;
  keyClass?: KeyClass;
  key?: string;
  score?: number;
}

export interface ScoringObserver {
  answered(record: AnswerRecord): void;
  ruleMatched(rule: string): void;
  /** A key's score fell in a threshold's range; `observe` for the observe-only ranges. */
  thresholdCrossed(keyClass: KeyClass, answer: ThresholdAction['kind'], observe: boolean): void;
  /** The keys an evaluation counted, with the scores the store returned (the hottest keys are kept from these). */
  keysScored(scored: readonly ScoredKey[], now: number): void;
  /** The store failed an evaluation and on_store_error answered. */
  storeFailed(): void;
  /** An alert mail was handed to the relay, or held back by the key's cooldown. */
  alerted(result: 'sent' | 'cooldown'): void;
}

/** For callers that want none of it (tests, the CLI's simulate). */
export const UNOBSERVED: ScoringObserver = {
  answered: () => undefined,
  ruleMatched: () => undefined,
  thresholdCrossed: () => undefined,
  keysScored: () => undefined,
  storeFailed: () => undefined,
  alerted: () => undefined,
};
