// First half of an evaluation: which rules match the facts and which keys get how many points. Pure.
import type { Facts, KeyClass, KeyClassSettings, Points, Rule, RuleSet, Threshold } from '../rules/rule-set';
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
  observed: ReadonlyArray<{ rule: Rule; keys: string[] }>;
  /** Enforced rules with their own answer (block-list, tarpit) that matched, in file order. */
  ruleActions: readonly Rule[];
  /** Every rule that matched, enforced or observed, in file order (counted in metrics). */
  matched: readonly Rule[];
  /** Enforced rules that matched and change the message (subject prefix, headers, redirect, quarantine). */
  marking: readonly Rule[];
}

/** One key class a rule adds points to, with what plan() needs of the class found once per rule set. */
interface Addition {
  keyClass: KeyClass;
  points: Points;
  settings: KeyClassSettings;
  cap: number | undefined;
}

/**
 * Each rule's additions as plan() walks them, made on the rule's first match. plan() runs for every
 * SMTP event: iterating the rule's Map, finding the class's settings and computing its cap there
 * cost allocations at every event (issue 20's heap profile: plan() was 11 % of the bytes allocated).
 * Kept with the rule set they were made for, as a rule object could be shared by two.
 */
const additionsByRule = new WeakMap<Rule, { ruleSet: RuleSet; additions: readonly Addition[] }>();

function additionsOf(ruleSet: RuleSet, rule: Rule): readonly Addition[] {
  const known = additionsByRule.get(rule);
  if (known?.ruleSet === ruleSet) return known.additions;
  const additions: Addition[] = [];
  for (const [keyClass, points] of rule.add) {
    const settings = ruleSet.keyClasses.get(keyClass);
    // The loader guarantees every class is declared.
    if (settings) additions.push({ keyClass, points, settings, cap: blockingCap(settings.thresholds) });
  }
  additionsByRule.set(rule, { ruleSet, additions });
  return additions;
}

/**
 * The lists most evaluations leave empty share this one until something is added. Not frozen: V8
 * iterates a frozen array with for-of through its generic path, allocating at every step.
 */
const NONE: readonly never[] = [];

export function plan(ruleSet: RuleSet, facts: Facts): Plan {
  // A list, not a Map: an event counts a handful of keys, and a search of them allocates nothing.
  const updates: KeyUpdate[] = [];
  const matched: Rule[] = [];
  let observed: Array<{ rule: Rule; keys: string[] }> | undefined;
  let ruleActions: Rule[] | undefined;
  let marking: Rule[] | undefined;
  // Indexed: the loader freezes the rule set, and a for-of over a frozen array allocates at each step
  // (V8 leaves its fast path): 1.7 % of the bytes allocated per session at peak went to that here.
  const rules = ruleSet.rules;
  for (let r = 0; r < rules.length; r++) {
    const rule = rules[r]!;
    if (!rule.events.has(facts.event) || !rule.condition(facts)) continue;
    matched.push(rule);
    if (rule.ok) {
      if (rule.observe) {
        (observed ??= []).push({ rule, keys: [] });
        continue;
      }
      return { allowedBy: rule, updates, observed: observed ?? NONE, ruleActions: ruleActions ?? NONE, matched, marking: marking ?? NONE };
    }
    if (rule.action && !rule.observe) (ruleActions ??= []).push(rule);
    if (rule.marks && !rule.observe) (marking ??= []).push(rule);
    // An observe-only rule's keys are listed for the log; an enforced rule's go into the updates.
    const observedKeys: string[] | undefined = rule.observe ? [] : undefined;
    for (const { keyClass, points, settings, cap } of additionsOf(ruleSet, rule)) {
      const key = keyFor(keyClass, settings.parts, facts, settings);
      if (key === undefined) continue;
      if (observedKeys) {
        observedKeys.push(key);
        continue;
      }
      const added = pointsFor(points, facts);
      const update = updateOf(updates, key);
      if (update) {
        update.points += added;
        update.rules.push(rule.name);
      } else {
        updates.push({ keyClass, key, points: added, halfLifeMs: settings.halfLifeMs, cap, rules: [rule.name] });
      }
    }
    if (observedKeys) (observed ??= []).push({ rule, keys: observedKeys });
  }
  return { updates, observed: observed ?? NONE, ruleActions: ruleActions ?? NONE, matched, marking: marking ?? NONE };
}

function updateOf(updates: readonly KeyUpdate[], key: string): KeyUpdate | undefined {
  for (const update of updates) if (update.key === key) return update;
  return undefined;
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
  for (let i = 0; i < thresholds.length; i++) {
    const t = thresholds[i]!;
    if (t.above === undefined || t.observe) continue;
    const kind = t.action.kind;
    if (kind === 'tempfail' || kind === 'reject' || kind === 'discard') return nextUp(t.above);
  }
  return undefined;
}

/** One double seen as two 32-bit words (little-endian: the low word first), shared by every call. */
const asDouble = new Float64Array(1);
const asWords = new Uint32Array(asDouble.buffer);

/** The next double up (towards +Infinity): the bits one more for a positive number, one less for a negative one. */
function nextUp(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  asDouble[0] = x;
  const step = x > 0 ? 1 : -1;
  const low = asWords[0]! + step;
  asWords[0] = low >>> 0;
  if (low > 0xffffffff) asWords[1] = asWords[1]! + 1;
  else if (low < 0) asWords[1] = asWords[1]! - 1;
  return asDouble[0];
}
