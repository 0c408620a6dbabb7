// The rules file's dnsbl, rhsbl, reverse_dns and recipients sections, the conditions that read them, and rule answers.
import { ConfigError } from '../../../src/config/errors';
import { ScoringEngine } from '../../../src/engine/scoring-engine';
import { parseRuleSet } from '../../../src/rules/loader';
import type { Facts, ListingFacts, RuleEvent, RuleSet } from '../../../src/rules/rule-set';
import { MemoryStore } from '../../../src/store/memory-store';

const BASE = `
keys:
  ip: { half_life: 10m }
dnsbl:
  zen: { zone: zen.example.org, answers: ["127.0.0.[2..11]"], weight: 3 }
  bad: { zone: bad.example.net, weight: 4 }
  good: { zone: wl.example.com, answers: ["127.0.[0..255].[1;2;3]"], weight: -5 }
rhsbl:
  dbl: { zone: dbl.example.org, weight: 2 }
`;

function problems(text: string): string[] {
  try {
    parseRuleSet(text, 'rules.yml');
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => `${p.line}: ${p.message}`);
    throw error;
  }
  return [];
}

function listing(score: number, ...names: string[]): ListingFacts {
  return { score, listedOn: new Set(names) };
}

function facts(event: RuleEvent, extra: Partial<Facts> = {}): Facts {
  return { event, clientIp: '192.0.2.1', helo: 'client.example', sender: 'a@example.org', senderDomain: 'example.org', macro: () => undefined, ...(event === 'rcpt' ? { recipient: 'b@example.net', recipientDomain: 'example.net' } : {}), ...extra };
}

async function actionOf(ruleSet: RuleSet, f: Facts): Promise<string> {
  const evaluation = await new ScoringEngine(ruleSet, new MemoryStore(), () => 1_000_000).evaluate(f);
  if (evaluation.kind === 'allowed') return 'ok';
  const a = evaluation.outcome.action;
  return a.kind === 'delay' ? `delay ${a.seconds}` : 'reply' in a && a.reply ? `${a.kind} ${a.reply.code}` : a.kind;
}

describe('DNS list sections', () => {
  it('compiles lists with names, zones, filters and weights, and records which events read them', () => {
    const ruleSet = parseRuleSet(`${BASE}
rules:
  - name: listed
    on: rcpt
    add: { ip: dnsbl }
  - name: helo-listed
    on: helo
    when: { rhsbl: { listed_on: [dbl] } }
    add: { ip: 1 }
`, 'rules.yml');
    const { dnsbl, rhsbl, reads } = ruleSet.reputation;
    expect(dnsbl.map((l) => [l.name, l.zone, l.weight, l.filters.length])).toEqual([['zen', 'zen.example.org', 3, 1], ['bad', 'bad.example.net', 4, 0], ['good', 'wl.example.com', -5, 1]]);
    expect(rhsbl.map((l) => l.name)).toEqual(['dbl']);
    expect([...(reads.get('rcpt') ?? [])]).toEqual(['dnsbl']);
    expect([...(reads.get('helo') ?? [])]).toEqual(['rhsbl']);
    expect(reads.has('connect')).toBe(false);
    expect(ruleSet.reputation.dynamicPtr).toBeUndefined();
  });

  it('reports a bad answer filter, a repeated zone, an unknown list name and a missing section at their lines', () => {
    const found = problems(`
keys:
  ip: { half_life: 10m }
dnsbl:
  zen: { zone: zen.example.org, answers: ["127.0.0.[11..2]"] }
  again: { zone: ZEN.example.org }
rules:
  - name: r1
    on: rcpt
    when: { dnsbl: { listed_on: [zen, nope] } }
    add: { ip: 1 }
  - name: r2
    on: mail
    when: { rhsbl: { above: 1 } }
    add: { ip: 1 }
  - name: r3
    on: connect
    add: { ip: rhsbl }
`);
    expect(found).toEqual([
      expect.stringMatching(/^5: /),
      expect.stringMatching(/^6: zone zen.example.org is already used by dnsbl list "zen"/),
      expect.stringMatching(/^10: dnsbl list "nope" is not defined in the dnsbl section/),
      expect.stringMatching(/^14: "rhsbl" needs lists in the rhsbl section/),
      expect.stringMatching(/^18: points "rhsbl" need lists in the rhsbl section/),
      expect.stringMatching(/^18: points "rhsbl" are not known at connect/),
    ]);
  });

  it('refuses a zone that is not a DNS name and a weight that is not a number', () => {
    const found = problems(`
keys:
  ip: { half_life: 10m }
dnsbl:
  zen: { zone: "zen example.org", weight: heavy }
`);
    expect(found.join('\n')).toMatch(/zone/);
    expect(found.join('\n')).toMatch(/weight/);
  });

  it('warns when lists are configured but no rule reads them', () => {
    const ruleSet = parseRuleSet(`${BASE}
rules:
  - name: count
    on: rcpt
    add: { ip: 1 }
`, 'rules.yml');
    expect(ruleSet.warnings.join('\n')).toMatch(/dnsbl is configured but no rule reads dnsbl/);
    expect(ruleSet.warnings.join('\n')).toMatch(/rhsbl is configured but no rule reads rhsbl/);
  });
});

describe('conditions on DNS lists, reverse DNS and the recipient map', () => {
  const ruleSet = parseRuleSet(`${BASE}
recipients:
  map: list:/nonexistent/recipients
rules:
  - name: heavy
    on: rcpt
    when: { dnsbl: { above: 5 } }
    add: { ip: 100 }
  - name: on-zen
    on: mail
    when: { dnsbl: { listed_on: [zen] } }
    add: { ip: 10 }
  - name: unknown-recipient
    on: rcpt
    when: { recipient_known: false }
    add: { ip: 1 }
    reject: { code: 550, ext: "5.1.1", text: "No such user here" }
  - name: no-ptr
    on: connect
    when: { reverse_dns: [none, unverified] }
    delay: 3s
  - name: dynamic
    on: connect
    when: { reverse_dns: dynamic }
    delay: 1s
thresholds:
  ip:
    - above: 50
      reject: { code: 554, ext: "5.7.1", text: "Listed" }
`, 'rules.yml');

  it('compares the weighted score with above, and names with listed_on', async () => {
    expect(await actionOf(ruleSet, facts('rcpt', { dnsbl: listing(7, 'zen', 'bad') }))).toBe('reject 554');
    expect(await actionOf(ruleSet, facts('rcpt', { dnsbl: listing(5, 'zen', 'bad', 'good') }))).toBe('continue');
    expect(await actionOf(ruleSet, facts('mail', { dnsbl: listing(3, 'zen') }))).toBe('continue');
    // No answer at all counts as not listed.
    expect(await actionOf(ruleSet, facts('rcpt'))).toBe('continue');
  });

  it('answers with a rule\'s own reply for an unknown recipient, and never for one outside the map', async () => {
    expect(await actionOf(ruleSet, facts('rcpt', { recipientKnown: false }))).toBe('reject 550');
    expect(await actionOf(ruleSet, facts('rcpt', { recipientKnown: true }))).toBe('continue');
    expect(await actionOf(ruleSet, facts('rcpt'))).toBe('continue');
  });

  it('grades reverse DNS with the rules\' own delays', async () => {
    expect(await actionOf(ruleSet, facts('connect', { reverseDns: 'none' }))).toBe('delay 3');
    expect(await actionOf(ruleSet, facts('connect', { reverseDns: 'unverified' }))).toBe('delay 3');
    expect(await actionOf(ruleSet, facts('connect', { reverseDns: 'dynamic' }))).toBe('delay 1');
    expect(await actionOf(ruleSet, facts('connect', { reverseDns: 'verified' }))).toBe('continue');
    expect(await actionOf(ruleSet, facts('connect', { reverseDns: 'unknown' }))).toBe('continue');
  });

  it('lets a threshold\'s stronger answer beat a rule\'s delay, and a rule\'s reject beat a threshold\'s delay', async () => {
    const mixed = parseRuleSet(`
keys:
  ip: { half_life: 10m }
rules:
  - name: slow
    on: rcpt
    when: { sender: { equals: slow@example.org } }
    delay: 2s
  - name: count
    on: rcpt
    add: { ip: 10 }
  - name: block
    on: rcpt
    when: { sender: { equals: block@example.org } }
    reject: true
thresholds:
  ip:
    - above: 5
      delay: 1s
    - above: 15
      tempfail: true
`, 'rules.yml');
    expect(await actionOf(mixed, facts('rcpt', { sender: 'slow@example.org' }))).toBe('delay 2');
    expect(await actionOf(mixed, facts('rcpt', { sender: 'block@example.org' }))).toBe('reject');
  });

  it('records the facts each event reads, so only those are looked up', () => {
    expect([...(ruleSet.reputation.reads.get('connect') ?? [])]).toEqual(['reverse_dns']);
    expect([...(ruleSet.reputation.reads.get('mail') ?? [])]).toEqual(['dnsbl']);
    expect([...(ruleSet.reputation.reads.get('rcpt') ?? [])].sort()).toEqual(['dnsbl', 'recipient_known']);
    expect(ruleSet.reputation.recipients).toEqual({ type: 'list', path: '/nonexistent/recipients', delimiter: '+', domains: [] });
  });

  it('refuses recipient_known without a map, outside rcpt, and a rule with two answers', () => {
    const found = problems(`
keys:
  ip: { half_life: 10m }
rules:
  - name: r1
    on: mail
    when: { recipient_known: false }
    add: { ip: 1 }
  - name: r2
    on: rcpt
    delay: 1s
    reject: true
  - name: r3
    on: rcpt
    ok: true
    tempfail: true
`);
    expect(found).toEqual([
      expect.stringMatching(/^7: "recipient_known" is not known at mail/),
      expect.stringMatching(/^7: "recipient_known" needs a recipients map/),
      expect.stringMatching(/^9: rule "r2" has delay and reject/),
      expect.stringMatching(/^13: rule "r3" has ok: true and tempfail/),
    ]);
  });

  it('resolves map paths against the rules file and refuses unknown map types', () => {
    const rel = parseRuleSet(`
keys:
  ip: { half_life: 10m }
recipients: { map: "hash:maps/virtual", domains: [Example.ORG] }
rules:
  - name: r
    on: rcpt
    when: { recipient_known: false }
    reject: true
`, '/etc/floodgate/rules.yml');
    expect(rel.reputation.recipients).toEqual({ type: 'hash', path: '/etc/floodgate/maps/virtual', delimiter: '+', domains: ['example.org'] });
    expect(problems(`
recipients: { map: "mysql:/etc/postfix/x.cf" }
rules:
  - name: r
    on: rcpt
    when: { recipient_known: false }
    reject: true
`)).toEqual([expect.stringMatching(/^2: map type "mysql" is not supported/)]);
  });

  it('compiles custom dynamic patterns, reporting a bad one in its file', () => {
    const ruleSet = parseRuleSet(`
reverse_dns: { dynamic: ["\\\\bpool\\\\b", "dsl-"] }
rules:
  - name: r
    on: connect
    when: { reverse_dns: dynamic }
    delay: 1s
`, 'rules.yml');
    expect(ruleSet.reputation.dynamicPtr?.map((p) => p.test('x.POOL.example'))).toEqual([true, false]);
    expect(problems(`
reverse_dns: { dynamic: ["(unclosed"] }
rules:
  - name: r
    on: connect
    when: { reverse_dns: dynamic }
    delay: 1s
`)).toEqual([expect.stringMatching(/^2: invalid regular expression/)]);
  });
});
