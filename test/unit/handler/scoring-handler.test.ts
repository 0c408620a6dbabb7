// The scoring handler's policies: store outage answers, once-per-change logging, header marks, negotiation needs.
import { Action } from '../../../src/milter/constants';
import { newCounters } from '../../../src/handler/counters';
import { scoringHandler } from '../../../src/handler/scoring-handler';
import { ScoringEngine } from '../../../src/engine/scoring-engine';
import { parseRuleSet } from '../../../src/rules/loader';
import type { SessionContext } from '../../../src/session/handler';
import { MemoryStore } from '../../../src/store/memory-store';
import { StoreError } from '../../../src/store/score-store';
import { captureLog } from '../../support/log-capture';

const RULES = `
keys:
  ip: { half_life: 10m }
rules:
  - name: per-recipient
    on: rcpt
    add: { ip: 1 }
thresholds:
  ip:
    - above: 1
      continue: true
      header: { name: X-Floodgate, value: busy }
    - above: 3
      tempfail: true
`;

function ctx(index = 1): SessionContext {
  return {
    connectionId: 'c1',
    mta: 'postfix',
    connect: { hostname: '[192.0.2.9]', family: 'inet', address: '192.0.2.9', port: 1 },
    helo: 'pc',
    message: { index, sender: '<a@example.org>', senderArgs: [], recipients: [], headerCount: 0, bodyBytes: 0 },
    macro: () => undefined,
  };
}


test('negotiates only the rule events, RCPT_REJ for rcpt rules, and ADDHDRS for header marks', () => {
  const handler = scoringHandler({ engine: new ScoringEngine(parseRuleSet(RULES, 'r.yml'), new MemoryStore()), logger: captureLog().logger, onStoreError: 'accept' });
  const needs = handler.needs();
  expect([...needs.stages]).toEqual(['connect', 'helo', 'rcpt']);
  expect(needs.actions).toBe(Action.ADDHDRS);
  expect(needs.rejectedRecipients).toBe(true);
  expect(handler.connect).toBeUndefined(); // negotiated for the facts, answered by the session
});

test('a header mark set at RCPT is added at end of that message only', async () => {
  const handler = scoringHandler({ engine: new ScoringEngine(parseRuleSet(RULES, 'r.yml'), new MemoryStore()), logger: captureLog().logger, onStoreError: 'accept' });
  const c = ctx();
  await handler.rcpt!(c, '<x@example.com>', []);
  expect((await handler.eom!(c)).modifications).toEqual([]);
  await handler.rcpt!(c, '<y@example.com>', []);
  expect((await handler.eom!(c)).modifications).toEqual([{ kind: 'addHeader', name: 'X-Floodgate', value: 'busy' }]);
  expect((await handler.eom!(ctx(2))).modifications).toEqual([]);
});

test.each([
  ['accept', 'continue'],
  ['tempfail', 'tempfail'],
] as const)('on_store_error %s answers %s, logs once per outage and counts every failure', async (policy, expected) => {
  let down = true;
  const store = new MemoryStore();
  const flaky = Object.assign(Object.create(store) as MemoryStore, {
    addMany: (...args: Parameters<MemoryStore['addMany']>) => (down ? Promise.reject(new StoreError('LevelDB is gone')) : store.addMany(...args)),
  });
  const { lines, logger, expectWarnings } = captureLog();
  expectWarnings('score store failed, applying on_store_error', 'score store answers again');
  const counters = newCounters();
  const handler = scoringHandler({ engine: new ScoringEngine(parseRuleSet(RULES, 'r.yml'), flaky), logger, onStoreError: policy, counters });
  for (let i = 0; i < 5; i++) expect(await handler.rcpt!(ctx(), '<x@example.com>', [])).toEqual({ kind: expected });
  expect(counters.storeErrors).toBe(5);
  down = false;
  expect(await handler.rcpt!(ctx(), '<x@example.com>', [])).toEqual({ kind: 'continue' });
  await new Promise((r) => setImmediate(r));
  expect(lines.filter((l) => l.message === 'score store failed, applying on_store_error')).toHaveLength(1);
  expect(lines.filter((l) => l.message === 'score store answers again')).toHaveLength(1);
});

test('delete removes the key once its threshold acted; log names key, score and rules', async () => {
  const rules = RULES.replace('      tempfail: true', '      tempfail: true\n      delete: true');
  const store = new MemoryStore();
  const { lines, logger } = captureLog();
  const handler = scoringHandler({ engine: new ScoringEngine(parseRuleSet(rules, 'r.yml'), store), logger, onStoreError: 'accept' });
  for (let i = 0; i < 3; i++) await handler.rcpt!(ctx(), '<x@example.com>', []);
  expect(await handler.rcpt!(ctx(), '<x@example.com>', [])).toMatchObject({ kind: 'tempfail' });
  expect(await store.get('ip:192.0.2.9', Date.now())).toBeUndefined();
  expect(await handler.rcpt!(ctx(), '<x@example.com>', [])).toEqual({ kind: 'continue' });
  await new Promise((r) => setImmediate(r));
  const threshold = lines.find((l) => l.message === 'threshold' && l.action === 'tempfail');
  expect(threshold).toMatchObject({ key: 'ip:192.0.2.9', score: 4, rules: ['per-recipient'] });
});
