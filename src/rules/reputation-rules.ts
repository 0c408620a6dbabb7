// Compiles the rules file's DNS list, reverse-DNS and recipient-map sections into ReputationSettings.
import { isAbsolute, join, dirname } from 'node:path';
import { parseAnswerFilter, type AnswerFilter } from '../net/answer-filter';
import { fileEntries, inlineEntries, type ListEntry } from './lists';
import { compilePattern, type TextPattern } from './pattern';
import { normaliseHost } from '../net/normalise';
import { RECIPIENT_MAP_TYPES, type DnsListSettings, type RecipientMapSettings, type RecipientMapType, type ReputationFact, type ReputationSettings, type RuleEvent } from './rule-set';
import type { DnsListSpec, RulesFileSpec, RulesSource } from './schema';

/** Everything but `reads`, which the loader collects from the rules. */
export type ReputationLists = Omit<ReputationSettings, 'reads'>;

export function compileReputation(spec: RulesFileSpec, source: RulesSource): ReputationLists {
  const dynamicPtr = compileDynamicPatterns(spec.reverse_dns, source);
  const recipients = spec.recipients && compileRecipientMap(spec.recipients, source);
  return {
    dnsbl: compileDnsLists('dnsbl', spec.dnsbl, source),
    rhsbl: compileDnsLists('rhsbl', spec.rhsbl, source),
    ...(dynamicPtr ? { dynamicPtr } : {}),
    ...(recipients ? { recipients } : {}),
  };
}

function compileDnsLists(section: 'dnsbl' | 'rhsbl', specs: Record<string, DnsListSpec> | undefined, source: RulesSource): DnsListSettings[] {
  const zones = new Map<string, string>();
  return Object.entries(specs ?? {}).map(([name, list]) => {
    const zone = normaliseHost(list.zone);
    const earlier = zones.get(zone);
    // Two entries for one zone would query it twice and count it twice.
    if (earlier !== undefined) source.error([section, name, 'zone'], `zone ${zone} is already used by ${section} list "${earlier}"`);
    zones.set(zone, name);
    const filters: AnswerFilter[] = [];
    (list.answers ?? []).forEach((text, i) => {
      const filter = parseAnswerFilter(text);
      if (typeof filter === 'string') source.error([section, name, 'answers', i], filter);
      else filters.push(filter);
    });
    const weight = list.weight ?? 1;
    if (weight === 0) source.warn([section, name, 'weight'], `${section} list "${name}" has weight 0: a listing adds nothing to its score`);
    return { name, zone, filters, weight };
  });
}

/** undefined: the shipped defaults apply (the DNS layer owns them). */
function compileDynamicPatterns(spec: RulesFileSpec['reverse_dns'], source: RulesSource): TextPattern[] | undefined {
  if (spec === undefined) return undefined;
  if (spec.dynamic !== undefined && spec.dynamic_file !== undefined) source.error(['reverse_dns'], 'reverse_dns needs one of dynamic or dynamic_file, not both', true);
  let entries: ListEntry[] | undefined;
  if (spec.dynamic_file !== undefined) entries = fileEntries(spec.dynamic_file, ['reverse_dns', 'dynamic_file'], source);
  else if (spec.dynamic !== undefined) entries = inlineEntries(spec.dynamic, ['reverse_dns', 'dynamic'], source);
  if (entries === undefined) return undefined;
  const patterns: TextPattern[] = [];
  for (const entry of entries) {
    const pattern = compilePattern(entry.text);
    if (typeof pattern === 'string') entry.report(pattern);
    else patterns.push(pattern);
  }
  return patterns;
}

/** `map: type:path` as in Postfix (hash:/etc/postfix/virtual); a bare path is a list of addresses. */
function compileRecipientMap(spec: NonNullable<RulesFileSpec['recipients']>, source: RulesSource): RecipientMapSettings | undefined {
  const m = /^([a-z]+):(.+)$/.exec(spec.map);
  const type = (m ? m[1] : 'list') as RecipientMapType;
  const path = m ? m[2] : spec.map;
  if (!(RECIPIENT_MAP_TYPES as readonly string[]).includes(type)) {
    source.error(['recipients', 'map'], `map type "${type}" is not supported (${RECIPIENT_MAP_TYPES.join(', ')})`);
    return undefined;
  }
  return {
    type,
    path: resolveFrom(source, path),
    delimiter: spec.delimiter ?? '+',
    domains: (spec.domains ?? []).map(normaliseHost),
    ...(spec.postfix_config !== undefined ? { postfixConfig: resolveFrom(source, spec.postfix_config) } : {}),
  };
}

/** Relative to the rules file, as list files are. */
function resolveFrom(source: RulesSource, path: string): string {
  return isAbsolute(path) ? path : join(dirname(source.file), path);
}

/** Per event, the union of the facts its rules read: what the handler must look up before evaluating. */
export function readsByEvent(rules: ReadonlyArray<{ events: ReadonlySet<RuleEvent>; reads: ReadonlySet<ReputationFact> }>): Map<RuleEvent, Set<ReputationFact>> {
  const byEvent = new Map<RuleEvent, Set<ReputationFact>>();
  for (const rule of rules) {
    for (const event of rule.events) {
      const set = byEvent.get(event) ?? new Set<ReputationFact>();
      for (const fact of rule.reads) set.add(fact);
      if (set.size > 0) byEvent.set(event, set);
    }
  }
  return byEvent;
}
