// decide(): from the keys' new scores (and the rules' own answers) to one action and its reasons.
import { decide, thresholdFor } from '../../../src/engine/decide';
import { parseRuleSet } from '../../../src/rules/loader';

const RULES = parseRuleSet(`
keys:
  ip: { half_life: 10m }
  sender: { half_life: 1h }
rules:
  - name: per-recipient
    on: rcpt
    add: { ip: 1, sender: 1 }
  - name: tarpit
    on: rcpt
    when: { client_ip: { in: ["203.0.113.0/24"] } }
    delay: 5s
  - name: block
    on: rcpt
    when: { client_ip: { in: ["198.51.100.0/24"] } }
    reject: true
thresholds:
  ip:
    - below: -10
      ok: true
    - above: 40
      delay: 2s
      log: true
    - above: 60
      tempfail: true
    - above: 30
      observe: true
      reject: true
  sender:
    - above: 100
      reject: true
`, 'rules.yml');

const update = (keyClass: 'ip' | 'sender', key: string) => ({ keyClass, key, points: 1, halfLifeMs: 1, rules: ['per-recipient'] });
const rule = (name: string) => RULES.rules.find((r) => r.name === name)!;

test.each([
  [10, 'continue'],
  [35, 'continue'], // observe-only range: reported, not enforced
  [45, 'delay'],
  [61, 'tempfail'],
  [-11, 'ok'],
])('an ip score of %d answers %s', (score, kind) => {
  expect(decide(RULES, [{ update: update('ip', 'ip:192.0.2.7'), score }]).action.kind).toBe(kind);
});

test('every threshold that applied is a reason, the observed one marked, the enforced one deciding', () => {
  const outcome = decide(RULES, [{ update: update('ip', 'ip:192.0.2.7'), score: 45 }]);
  expect(outcome.reasons.map((r) => [r.key, r.score, r.threshold.observe, r.threshold.action.kind])).toEqual([
    ['ip:192.0.2.7', 45, true, 'reject'],
    ['ip:192.0.2.7', 45, false, 'delay'],
  ]);
});

test('the most severe action across keys wins; an allow-list wins over everything', () => {
  expect(decide(RULES, [{ update: update('ip', 'ip:a'), score: 45 }, { update: update('sender', 'sender:b'), score: 101 }]).action.kind).toBe('reject');
  expect(decide(RULES, [{ update: update('ip', 'ip:a'), score: -20 }, { update: update('sender', 'sender:b'), score: 101 }]).action.kind).toBe('ok');
});

test('a rule\'s own answer competes on severity: a block-list reject beats a delay, a threshold tempfail beats a tarpit rule', () => {
  expect(decide(RULES, [{ update: update('ip', 'ip:a'), score: 45 }], [rule('block')]).action.kind).toBe('reject');
  const tarpit = decide(RULES, [{ update: update('ip', 'ip:a'), score: 61 }], [rule('tarpit')]);
  expect(tarpit.action.kind).toBe('tempfail');
  expect(tarpit.rules.map((r) => r.name)).toEqual(['tarpit']);
});

test('of two delays the longer wins', () => {
  expect(decide(RULES, [{ update: update('ip', 'ip:a'), score: 45 }], [rule('tarpit')]).action).toEqual({ kind: 'delay', seconds: 5 });
});

test('thresholdFor: the lowest `below` the score is under, else the highest `above` it exceeds', () => {
  const thresholds = RULES.keyClasses.get('ip')!.thresholds;
  expect(thresholdFor(thresholds, -11, false)?.action.kind).toBe('ok');
  expect(thresholdFor(thresholds, 70, false)?.action.kind).toBe('tempfail');
  expect(thresholdFor(thresholds, 40, false)).toBeUndefined(); // `above` is strict
  expect(thresholdFor(thresholds, 31, true)?.action.kind).toBe('reject');
});
