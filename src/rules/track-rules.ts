// Compiles the rules file's `track:` section: which messages are kept whole (tracking copies).
import { compileWhen, type ConditionScope } from './conditions';
import type { NamedList } from './lists';
import type { Rule, RuleEvent, TrackRule } from './rule-set';
import type { RulesFileSpec, RulesSource } from './schema';

/** Conditions are read as at RCPT (client, HELO, sender, one recipient, lists, DNS facts already known). */
const TRACK_EVENTS: readonly RuleEvent[] = ['rcpt'];

export function compileTrackRules(spec: RulesFileSpec, source: RulesSource, lists: ReadonlyMap<string, NamedList>, usedLists: Set<string>, rules: readonly Rule[]): TrackRule[] {
  const names = new Set(rules.map((r) => r.name));
  const seen = new Set<string>();
  return (spec.track ?? []).map((t, i) => {
    const path = ['track', i];
    if (seen.has(t.name.toLowerCase())) source.error([...path, 'name'], `duplicate track name "${t.name}" (names are folders; case does not tell them apart)`);
    seen.add(t.name.toLowerCase());
    const scope: ConditionScope = {
      source,
      rule: `track ${t.name}`,
      events: TRACK_EVENTS,
      lists,
      declaredLists: new Set(Object.keys(spec.lists ?? {})),
      usedLists,
      message: { headers: false, body: false, parseBody: false },
      attachmentFinders: [],
      dnsLists: {},
      hasRecipientMap: false,
      reads: new Set(),
    };
    const condition = compileWhen(t.when, [...path, 'when'], scope);
    if (scope.reads.size > 0) source.error([...path, 'when'], `track "${t.name}" reads ${[...scope.reads].join(', ')}: copies are chosen by client, HELO, sender, recipient, lists and rules that fired, never by a lookup`);
    (t.rules ?? []).forEach((name, j) => {
      if (!names.has(name)) source.error([...path, 'rules', j], `rule "${name}" is not defined in rules`);
    });
    if (t.when === undefined && t.rules === undefined) source.warn(path, `track "${t.name}" has neither when nor rules: it copies every message`);
    return { name: t.name, location: source.locate(path), condition, ...(t.rules ? { rules: new Set(t.rules) } : {}) };
  });
}
