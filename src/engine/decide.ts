// Second half of an evaluation: from the keys' new scores to one verdict and its side actions. Pure.
import type { KeyClass, Rule, RuleSet, Threshold, ThresholdAction } from '../rules/rule-set';
import type { KeyUpdate } from './plan';

export interface ScoredKey {
  update: KeyUpdate;
  score: number;
}

export interface Reason {
  keyClass: KeyClass;
  key: string;
  score: number;
  rules: string[];
  threshold: Threshold;
}

export interface Outcome {
  /** The action that wins across all keys (allow-list first, then the most severe). */
  action: ThresholdAction;
  /** Every threshold that applied, enforced or observed, for the log and for side actions. */
  reasons: Reason[];
  /** Rules whose own answer (delay, tempfail, reject) took part. */
  rules: Rule[];
}

/** Allow-list beats everything (a white list overrides all, as in SMTPTracker); then severity. */
const SEVERITY: Record<ThresholdAction['kind'], number> = { continue: 0, delay: 1, discard: 2, tempfail: 3, reject: 4, ok: 5 };

export function decide(ruleSet: RuleSet, scored: readonly ScoredKey[], ruleActions: readonly Rule[] = []): Outcome {
  let action: ThresholdAction = { kind: 'continue' };
  const reasons: Reason[] = [];
  // A rule's answer competes with the thresholds' on severity alone: a block-list reject beats a
  // threshold's delay, a threshold's reject beats a tarpit rule.
  for (const rule of ruleActions) if (rule.action) action = stronger(action, rule.action);
  for (const { update, score } of scored) {
    const settings = ruleSet.keyClasses.get(update.keyClass);
    if (!settings) continue;
    // An observe-only range reports what it would do; the enforced ranges still decide.
    const observed = thresholdFor(settings.thresholds, score, true);
    if (observed) reasons.push({ keyClass: update.keyClass, key: update.key, score, rules: update.rules, threshold: observed });
    const enforced = thresholdFor(settings.thresholds, score, false);
    if (!enforced) continue;
    reasons.push({ keyClass: update.keyClass, key: update.key, score, rules: update.rules, threshold: enforced });
    action = stronger(action, enforced.action);
  }
  return { action, reasons, rules: [...ruleActions] };
}

/**
 * The range the score falls in among the observe-only (or the enforced) thresholds: the lowest
 * `below` it is under, else the highest `above` it exceeds.
 */
export function thresholdFor(thresholds: readonly Threshold[], score: number, observe: boolean): Threshold | undefined {
  // `below` entries come first, ascending: the first one the score is under is the lowest. Indexed:
  // the rule set is frozen, and V8 iterates a frozen array with for-of through its allocating path.
  let match: Threshold | undefined;
  for (let i = 0; i < thresholds.length; i++) {
    const t = thresholds[i]!;
    if (t.observe !== observe) continue;
    if (t.below !== undefined) {
      if (score < t.below) return t;
    } else if (t.above !== undefined && score > t.above) {
      match = t;
    }
  }
  return match;
}

function stronger(a: ThresholdAction, b: ThresholdAction): ThresholdAction {
  if (SEVERITY[b.kind] > SEVERITY[a.kind]) return b;
  if (a.kind === 'delay' && b.kind === 'delay' && b.seconds > a.seconds) return b;
  return a;
}
