// Rule scenarios on a fake clock: under the limit continue, over it the action, after decay continue again.
import { ScoringEngine, type Evaluation } from '../../../src/engine/scoring-engine';
import { parseRuleSet } from '../../../src/rules/loader';
import type { Facts, RuleEvent } from '../../../src/rules/rule-set';
import { MemoryStore } from '../../../src/store/memory-store';

const RULES = `
keys:
  ip: { half_life: 10m }
  sender: { half_life: 1h }
lists:
  trusted: { cidr: ["10.0.0.0/8"] }
rules:
  - name: trusted
    on: connect
    when: { client_ip: { list: trusted } }
    ok: true
  - name: per-recipient
    on: rcpt
    add: { ip: 1, sender: 1 }
  - name: watch-bounces
    on: rcpt
    when: { sender: { null: true } }
    add: { ip: 5 }
    observe: true
thresholds:
  ip:
    - above: 5
      delay: 2s
    - above: 10
      tempfail: { code: "451", ext: "4.7.1", text: "slow down" }
    - above: 50
      reject: { code: "550", ext: "5.7.1", text: "go away" }
      observe: true
  sender:
    - below: -1
      ok: true
`;

const MINUTE = 60_000;

function setup(rules = RULES) {
  let now = 1_700_000_000_000;
  const store = new MemoryStore();
  const engine = new ScoringEngine(parseRuleSet(rules, 'rules.yml'), store, () => now);
  const facts = (event: RuleEvent, over: Partial<Facts> = {}): Facts => ({ event, clientIp: '192.0.2.7', sender: 'a@example.org', senderDomain: 'example.org', recipient: 'r@example.com', recipientDomain: 'example.com', macro: () => undefined, ...over });
  return { engine, store, facts, advance: (ms: number) => (now += ms), now: () => now };
}

function action(e: Evaluation): string {
  if (e.kind === 'allowed') return 'ok';
  const a = e.outcome.action;
  return a.kind === 'delay' ? `delay ${a.seconds}` : a.kind;
}

test('under the limit continue, then delay, then tempfail; after the decay continue again', async () => {
  const { engine, facts, advance } = setup();
  const seen: string[] = [];
  for (let i = 0; i < 12; i++) seen.push(action(await engine.evaluate(facts('rcpt'))));
  expect(seen).toEqual(['continue', 'continue', 'continue', 'continue', 'continue', 'delay 2', 'delay 2', 'delay 2', 'delay 2', 'delay 2', 'tempfail', 'tempfail']);
  // 11 points halve every 10 minutes: after 20 minutes 2.75, so below the delay bound again.
  advance(20 * MINUTE);
  expect(action(await engine.evaluate(facts('rcpt')))).toBe('continue');
});

test('refused events do not inflate the refused key: a persistent retrier is let through at the decay rate', async () => {
  const { engine, store, facts, advance, now } = setup();
  for (let i = 0; i < 11; i++) await engine.evaluate(facts('rcpt'));
  const atLimit = (await store.get('ip:192.0.2.7', now()))!.score;
  expect(atLimit).toBe(11);
  for (let i = 0; i < 100; i++) expect(action(await engine.evaluate(facts('rcpt')))).toBe('tempfail');
  expect((await store.get('ip:192.0.2.7', now()))!.score).toBe(11);
  // Once decayed to the bound the next attempt is counted (and refused), never accepted past it.
  advance(2 * MINUTE);
  const results = [];
  for (let i = 0; i < 3; i++) results.push(action(await engine.evaluate(facts('rcpt'))));
  expect(results).toEqual(['tempfail', 'tempfail', 'tempfail']);
  expect((await store.get('ip:192.0.2.7', now()))!.score).toBeLessThan(11);
  advance(3 * MINUTE); // 10.1 * 2^(-0.3) < 10: one more message passes, then the limit holds
  expect(action(await engine.evaluate(facts('rcpt')))).toBe('delay 2');
  expect(action(await engine.evaluate(facts('rcpt')))).toBe('tempfail');
});

test('a score exactly on a refusing bound still takes points and is refused (no endless pass at the bound)', async () => {
  const rules = RULES.replace('- above: 10', '- above: 3');
  const { engine, facts } = setup(rules);
  const seen: string[] = [];
  for (let i = 0; i < 6; i++) seen.push(action(await engine.evaluate(facts('rcpt'))));
  expect(seen).toEqual(['continue', 'continue', 'continue', 'tempfail', 'tempfail', 'tempfail']);
});

test('an allow-listed client is accepted without counting', async () => {
  const { engine, store, facts, now } = setup();
  const result = await engine.evaluate(facts('connect', { clientIp: '10.1.2.3' }));
  expect(result).toMatchObject({ kind: 'allowed', rule: { name: 'trusted' } });
  expect(await store.size()).toBe(0);
  expect(await store.get('ip:10.1.2.3', now())).toBeUndefined();
});

test('observe-only rules and thresholds log what they would do and change nothing', async () => {
  const { engine, store, facts, now } = setup();
  const result = await engine.evaluate(facts('rcpt', { sender: '' }));
  expect(result.observed.map((o) => o.rule.name)).toEqual(['watch-bounces']);
  expect((await store.get('ip:192.0.2.7', now()))!.score).toBe(1); // not 6
  await store.add('ip:198.51.100.1', 60, 10 * MINUTE, now());
  const over = await engine.evaluate(facts('rcpt', { clientIp: '198.51.100.1' }));
  // The observed reject is reported as a reason but the enforced action is the tempfail below it.
  expect(action(over)).toBe('tempfail');
  expect(over.kind === 'scored' && over.outcome.reasons.map((r) => `${r.key}:${r.threshold.action.kind}:${r.threshold.observe}`)).toContain('ip:198.51.100.1:reject:true');
});

test('an allow-list threshold (negative score) wins over a refusing one', async () => {
  const { engine, store, facts, now } = setup();
  await store.add('ip:192.0.2.7', 100, 10 * MINUTE, now());
  await store.add('sender:a@example.org', -50, 60 * MINUTE, now());
  expect(action(await engine.evaluate(facts('rcpt')))).toBe('ok');
});

test('keys are separate per client and per sender; the null sender is its own key', async () => {
  const { engine, store, facts, now } = setup();
  for (let i = 0; i < 12; i++) await engine.evaluate(facts('rcpt'));
  expect(action(await engine.evaluate(facts('rcpt', { clientIp: '192.0.2.8' })))).toBe('continue');
  await engine.evaluate(facts('rcpt', { sender: '' }));
  expect((await store.get('sender:<>', now()))!.score).toBe(1);
});

test('a store failure surfaces as an error for the caller to apply its policy', async () => {
  const { facts } = setup();
  const broken = new MemoryStore();
  await broken.close();
  const engine = new ScoringEngine(parseRuleSet(RULES, 'rules.yml'), { ...broken, addMany: () => Promise.reject(new Error('down')) } as unknown as MemoryStore);
  await expect(engine.evaluate(facts('rcpt'))).rejects.toThrow('down');
});
