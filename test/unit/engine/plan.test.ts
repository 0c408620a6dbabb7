// plan(): which rules match the facts and which keys get how many points, on its own (no store, no clock).
import { allowedWithoutLookups, plan } from '../../../src/engine/plan';
import { parseRuleSet } from '../../../src/rules/loader';
import type { Facts, RuleEvent } from '../../../src/rules/rule-set';

const RULES = parseRuleSet(`
keys:
  ip: { half_life: 10m }
  sender: { half_life: 1h }
  ip+sender: { half_life: 1h }
lists:
  trusted: { cidr: ["127.0.0.0/8"] }
rules:
  - name: trusted
    on: connect
    when: { client_ip: { list: trusted } }
    ok: true
  - name: per-recipient
    on: rcpt
    add: { ip: 1, sender: 1, ip+sender: 1 }
  - name: bounces
    on: rcpt
    when: { sender: { null: true } }
    add: { ip: 2 }
  - name: watch-big
    on: rcpt
    observe: true
    add: { ip: 5 }
  - name: block-dynamic
    on: rcpt
    when: { client_ip: { in: ["198.51.100.0/24"] } }
    reject: true
thresholds:
  ip:
    - above: 40
      delay: 2s
    - above: 60
      tempfail: true
`, 'rules.yml');

const facts = (event: RuleEvent, over: Partial<Facts> = {}): Facts => ({ event, clientIp: '192.0.2.7', sender: 'a@example.org', senderDomain: 'example.org', macro: () => undefined, ...over });

test('points of every matching rule add up per key, in file order, with the contributing rules named', () => {
  const p = plan(RULES, facts('rcpt', { sender: '' }));
  expect(p.updates.map((u) => [u.key, u.points, u.rules])).toEqual([
    ['ip:192.0.2.7', 3, ['per-recipient', 'bounces']],
    ['sender:<>', 1, ['per-recipient']],
    ['ip+sender:192.0.2.7|<>', 1, ['per-recipient']],
  ]);
  expect(p.allowedBy).toBeUndefined();
});

test('half-lives come from the key class, and the cap is just above the lowest refusing threshold', () => {
  const [ip, sender] = plan(RULES, facts('rcpt')).updates;
  expect(ip).toMatchObject({ halfLifeMs: 600_000 });
  expect(ip!.cap).toBeGreaterThan(60);
  expect(ip!.cap! - 60).toBeLessThan(1e-12); // the next double: a score on the bound still takes points
  expect(sender).toMatchObject({ halfLifeMs: 3_600_000, cap: undefined });
});

test('observe-only rules report their keys and add nothing', () => {
  const p = plan(RULES, facts('rcpt'));
  expect(p.observed.map((o) => [o.rule.name, o.keys])).toEqual([['watch-big', ['ip:192.0.2.7']]]);
  expect(p.updates.find((u) => u.rules.includes('watch-big'))).toBeUndefined();
});

test('a rule with its own answer is listed for decide(); rules of other events do not match', () => {
  expect(plan(RULES, facts('rcpt', { clientIp: '198.51.100.9' })).ruleActions.map((r) => r.name)).toEqual(['block-dynamic']);
  expect(plan(RULES, facts('mail')).updates).toEqual([]);
});

test('an allow-list match stops the plan: nothing is counted', () => {
  const p = plan(RULES, facts('connect', { clientIp: '127.0.0.1' }));
  expect(p.allowedBy?.name).toBe('trusted');
  expect(p.updates).toEqual([]);
  expect(allowedWithoutLookups(RULES, facts('connect', { clientIp: '127.0.0.1' }))).toBe(true);
  expect(allowedWithoutLookups(RULES, facts('connect', { clientIp: '192.0.2.7' }))).toBe(false);
});

test('a key whose value is missing from the facts is skipped, not counted under an empty key', () => {
  const p = plan(RULES, facts('rcpt', { sender: undefined, senderDomain: undefined }));
  expect(p.updates.map((u) => u.key)).toEqual(['ip:192.0.2.7']);
});
