// First half of an evaluation: which rules match the facts and which keys get how many points. Pure.
import type { Facts, KeyClass, Points, Rule, RuleSet, Threshold } from '../rules/rule-set';
import { keyFor } from './key-values';

export interface KeyUpdate {
  keyClass: KeyClass;
  key: string;
  points: number;
  halfLifeMs: number;
  /** Points stop being added once the score is above this: refused traffic must not keep inflating it. */
  cap?: number;
  /** Rules that contributed, for the log line. */
  rules: string[];
}

export interface Plan {
  /** The allow-list rule that matched, if any: the event is accepted without counting. */
  allowedBy?: Rule;
  updates: KeyUpdate[];
  /** Observe-only rules that matched, with the points they would have added. */
  observed: Array<{ rule: Rule; keys: string[] }>;
  /** Enforced rules with their own answer (block-list, tarpit) that matched, in file order. */
  ruleActions: Rule[];
  /** Every rule that matched, enforced or observed, in file order (counted in metrics). */
  matched: Rule[];
  /** Enforced rules that matched and change the message (subject prefix, headers, redirect, quarantine). */
  marking: Rule[];
}

const NO_RULES: Rule[] = [];

export function plan(ruleSet: RuleSet, facts: Facts): Plan {
  const byKey = new Map<string, KeyUpdate>();
  const observed: Plan['observed'] = [];
  const ruleActions: Rule[] = [];
  const matched: Rule[] = [];
  // Most evaluations mark nothing: the shared empty list until a marking rule matches.
  let marking: Rule[] = NO_RULES;
  for (const rule of ruleSet.rules) {
    if (!rule.events.has(facts.event) || !rule.condition(facts)) continue;
    matched.push(rule);
    if (rule.ok) {
      if (rule.observe) {
        observed.push({ rule, keys: [] });
        continue;
      }
      return { allowedBy: rule, updates: [...byKey.values()], observed, ruleActions, matched, marking };
    }
    if (rule.action && !rule.observe) ruleActions.push(rule);
    if (rule.marks && !rule.observe) marking = [...marking, rule];
    const keys: string[] = [];
    for (const [keyClass, written] of rule.add) {
      const points = pointsFor(written, facts);
      const settings = ruleSet.keyClasses.get(keyClass);
      if (!settings) continue; // the loader guarantees every class is declared
      const key = keyFor(keyClass, settings.parts, facts, settings);
      if (key === undefined) continue;
      keys.push(key);
      if (rule.observe) continue;
      const update = byKey.get(key);
      if (update) {
        update.points += points;
        update.rules.push(rule.name);
      } else {
        byKey.set(key, { keyClass, key, points, halfLifeMs: settings.halfLifeMs, cap: blockingCap(settings.thresholds), rules: [rule.name] });
      }
    }
    if (rule.observe) observed.push({ rule, keys });
  }
  return { updates: [...byKey.values()], observed, ruleActions, matched, marking };
}

/**
 * An enforced allow-list rule that matches without any lookup: the event is accepted whatever DNS
 * would say, so the handler need not wait for it (a trusted network never waits for its PTR).
 */
export function allowedWithoutLookups(ruleSet: RuleSet, facts: Facts): boolean {
  return ruleSet.rules.some((r) => r.ok && !r.observe && r.reads.size === 0 && r.events.has(facts.event) && r.condition(facts));
}

/**
 * Fixed points; the weighted score of the lists that list the client (0 when none does or none
 * answered); or the message's size in KiB (0 when the client declared none at MAIL).
 */
function pointsFor(points: Points, facts: Facts): number {
  if (typeof points === 'number') return points;
  if (points === 'size_kb') return (facts.size ?? 0) / 1024;
  return facts[points]?.score ?? 0;
}

/**
 * The store's cap for a key class: points stop once the score is over the lowest enforced refusing
 * threshold. A threshold fires at score > above and the store skips at score >= cap, so the cap is
 * the next double after `above`: a score sitting exactly on the bound still takes points (and is
 * then refused), it never stays on the bound letting traffic through.
 */
function blockingCap(thresholds: readonly Threshold[]): number | undefined {
  for (const t of thresholds) {
    if (t.above === undefined || t.observe) continue;
    const kind = t.action.kind;
    if (kind === 'tempfail' || kind === 'reject' || kind === 'discard') return nextUp(t.above);
  }
  return undefined;
}

/** One double seen as its 64 bits, shared by every call (nextUp runs for each new key of each event). */
const asDouble = new Float64Array(1);
const asBits = new BigInt64Array(asDouble.buffer);

function nextUp(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  asDouble[0] = x;
  asBits[0] = asBits[0]! + (x > 0 ? 1n : -1n);
  return asDouble[0];
}
