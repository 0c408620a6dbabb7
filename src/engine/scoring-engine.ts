// Evaluates one SMTP event: plan the points, apply them atomically in the store, decide.
import type { Facts, Rule, RuleSet } from '../rules/rule-set';
import type { MaybePromise } from '../maybe-promise';
import type { ScoreStore } from '../store/score-store';
import { decide, type Outcome, type ScoredKey } from './decide';
import { plan, type Plan } from './plan';

export type Evaluation =
  | { kind: 'allowed'; rule: Rule; observed: Plan['observed']; matched: Plan['matched'] }
  | { kind: 'scored'; outcome: Outcome; observed: Plan['observed']; matched: Plan['matched']; marking: Plan['marking']; updated: number; scored: readonly ScoredKey[] };

export class ScoringEngine {
  constructor(
    readonly ruleSet: RuleSet,
    private readonly store: ScoreStore,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Throws or rejects with the store's error (StoreError) when the store fails or times out; the
   * caller applies the policy. Answers at once, without a promise, when the store has the scores at once.
   */
  evaluate(facts: Facts): MaybePromise<Evaluation> {
    const planned = plan(this.ruleSet, facts);
    if (planned.allowedBy) return { kind: 'allowed', rule: planned.allowedBy, observed: planned.observed, matched: planned.matched };
    if (planned.updates.length === 0) return { kind: 'scored', outcome: decide(this.ruleSet, [], planned.ruleActions), observed: planned.observed, matched: planned.matched, marking: planned.marking, updated: 0, scored: [] };
    const scores = this.store.addMany(planned.updates, this.now());
    return scores instanceof Promise ? scores.then((s) => this.scored(planned, s)) : this.scored(planned, scores);
  }

  private scored(planned: Plan, scores: readonly number[]): Evaluation {
    const scored = planned.updates.map((update, i) => ({ update, score: scores[i]! }));
    const outcome = decide(this.ruleSet, scored, planned.ruleActions);
    return { kind: 'scored', outcome, observed: planned.observed, matched: planned.matched, marking: planned.marking, updated: planned.updates.length, scored };
  }

  deleteKey(key: string): Promise<boolean> {
    return this.store.delete(key);
  }
}
