// The scoring handler: store outage answers, once-per-change logging, header marks, negotiation needs, answer records, observe mode.
import { Action } from '../../../src/milter/constants';
import { recordingObserver } from '../../support/recording-observer';
import { answerLogFields } from '../../../src/handler/answer-record';
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
    connectedAt: undefined,
    connect: { hostname: '[192.0.2.9]', family: 'inet', address: '192.0.2.9', port: 1 },
    helo: 'pc',
    message: { index, sender: '<a@example.org>', senderArgs: [], recipients: [], headerCount: 0, bodyBytes: 0 },
    macro: () => undefined,
  };
}


test('negotiates CONNECT, HELO and MAIL (the sender every later event reads) and the rule events, RCPT_REJ for rcpt rules, ADDHDRS for header marks', () => {
  const handler = scoringHandler({ engine: new ScoringEngine(parseRuleSet(RULES, 'r.yml'), new MemoryStore()), logger: captureLog().logger, onStoreError: 'accept' });
  const needs = handler.needs();
  expect([...needs.stages]).toEqual(['connect', 'helo', 'mail', 'rcpt']);
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

// Found by the fuzz corpus's capture (issue 19): a message with four recipients over the threshold got five identical headers.
test('a header mark is added once per message, however many of its events cross the threshold', async () => {
  const handler = scoringHandler({ engine: new ScoringEngine(parseRuleSet(RULES.replace('above: 3', 'above: 30'), 'r.yml'), new MemoryStore()), logger: captureLog().logger, onStoreError: 'accept' });
  const c = ctx();
  for (const rcpt of ['<a@example.com>', '<b@example.com>', '<c@example.com>', '<d@example.com>']) await handler.rcpt!(c, rcpt, []);
  expect((await handler.eom!(c)).modifications).toEqual([{ kind: 'addHeader', name: 'X-Floodgate', value: 'busy' }]);
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
  const observer = recordingObserver();
  const handler = scoringHandler({ engine: new ScoringEngine(parseRuleSet(RULES, 'r.yml'), flaky), logger, onStoreError: policy, observer });
  for (let i = 0; i < 5; i++) expect(await handler.rcpt!(ctx(), '<x@example.com>', [])).toEqual({ kind: expected });
  expect(observer.storeFailures).toBe(5);
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

const ANSWERS = `
alert: { relay: "127.0.0.1:1", from: fg@example.org, to: [pm@example.org] }
keys:
  ip: { half_life: 10m }
rules:
  - name: trusted
    on: rcpt
    when: { sender: { equals: friend@example.org } }
    ok: true
  - name: per-recipient
    on: rcpt
    add: { ip: 1 }
thresholds:
  ip:
    - above: 1
      reject: { code: 550, ext: 5.7.1, text: Too many recipients }
      mail: true
`;

function withQueueId(sender: string): SessionContext {
  return { ...ctx(), message: { ...ctx().message!, sender }, macro: (name) => (name === 'i' ? '4Xy1Z2abcD' : undefined) };
}

test('every answer other than continue is recorded and logged with the queue id, client, envelope, rule, key and score', async () => {
  const observer = recordingObserver();
  const log = captureLog();
  const handler = scoringHandler({ engine: new ScoringEngine(parseRuleSet(ANSWERS, 'r.yml'), new MemoryStore()), logger: log.logger, onStoreError: 'accept', observer, now: () => 1_700_000_000_000 });
  expect(await handler.rcpt!(withQueueId('<a@example.org>'), '<x@example.com>', [])).toEqual({ kind: 'continue' });
  expect(observer.answers).toEqual([]);
  expect(await handler.rcpt!(withQueueId('<a@example.org>'), '<y@example.com>', [])).toMatchObject({ kind: 'reject' });
  expect(await handler.rcpt!(withQueueId('<friend@example.org>'), '<z@example.com>', [])).toEqual({ kind: 'accept' });
  expect(observer.answers).toEqual([
    {
      time: 1_700_000_000_000, conn: 'c1', event: 'rcpt', answer: 'reject', would: false, reply: '550 5.7.1 Too many recipients', queueId: '4Xy1Z2abcD',
      clientIp: '192.0.2.9', helo: 'pc', sender: 'a@example.org', recipient: 'y@example.com', rule: 'per-recipient', keyClass: 'ip', key: 'ip:192.0.2.9', score: 2,
    },
    { time: 1_700_000_000_000, conn: 'c1', event: 'rcpt', answer: 'ok', would: false, queueId: '4Xy1Z2abcD', clientIp: '192.0.2.9', helo: 'pc', sender: 'friend@example.org', recipient: 'z@example.com', rule: 'trusted' },
  ]);
  expect(observer.rules).toEqual(['per-recipient', 'per-recipient', 'trusted']);
  expect(observer.thresholds).toEqual([{ keyClass: 'ip', answer: 'reject', observe: false }]);
  const answerLines = log.lines.filter((l) => l.message === 'answer');
  expect(answerLines[0]).toMatchObject({ level: 'info', conn: 'c1', queue_id: '4Xy1Z2abcD', event: 'rcpt', answer: 'reject', client: '192.0.2.9', helo: 'pc', from: 'a@example.org', to: 'y@example.com', rule: 'per-recipient', key: 'ip:192.0.2.9', score: 2 });
  expect(answerLines[1]).toMatchObject({ answer: 'ok', rule: 'trusted' });
  // What, to whom and why before any field a client chooses: the fail2ban filter (packaging/fail2ban) anchors on them.
  expect(Object.keys(answerLogFields(observer.answers[0]!))).toEqual(['answer', 'client', 'rule', 'key', 'score', 'event', 'reply', 'conn', 'queue_id', 'helo', 'from', 'to']);
});

test('mode: observe answers continue, records and logs what it would have done, and sends no alert', async () => {
  const observer = recordingObserver();
  const log = captureLog();
  const alerts: unknown[] = [];
  const handler = scoringHandler({
    engine: new ScoringEngine(parseRuleSet(ANSWERS, 'r.yml'), new MemoryStore()), logger: log.logger, onStoreError: 'accept', observer, observeOnly: true,
    alerter: { alert: (a) => alerts.push(a) > 0 },
  });
  for (const rcpt of ['<x@example.com>', '<y@example.com>']) expect(await handler.rcpt!(withQueueId('<a@example.org>'), rcpt, [])).toEqual({ kind: 'continue' });
  expect(await handler.rcpt!(withQueueId('<friend@example.org>'), '<z@example.com>', [])).toEqual({ kind: 'continue' });
  expect(observer.answers.map((a) => [a.answer, a.would])).toEqual([['reject', true], ['ok', true]]);
  expect(log.lines.filter((l) => l.message === 'observe: would answer').map((l) => l.answer)).toEqual(['reject', 'ok']);
  expect(log.lines.filter((l) => l.message === 'answer')).toEqual([]);
  expect(alerts).toEqual([]);
});

test('a store failure answered by on_store_error is an answer with no rule', async () => {
  const observer = recordingObserver();
  const log = captureLog();
  log.expectWarnings('score store failed, applying on_store_error');
  const broken = Object.assign(Object.create(new MemoryStore()) as MemoryStore, { addMany: () => Promise.reject(new StoreError('down')) });
  const handler = scoringHandler({ engine: new ScoringEngine(parseRuleSet(ANSWERS, 'r.yml'), broken), logger: log.logger, onStoreError: 'tempfail', observer });
  expect(await handler.rcpt!(ctx(), '<x@example.com>', [])).toEqual({ kind: 'tempfail' });
  expect(observer.answers).toEqual([expect.objectContaining({ answer: 'tempfail', would: false, recipient: 'x@example.com' })]);
  expect(observer.answers[0]!.rule).toBeUndefined();
  // No rule field: the fail2ban filter must not ban every client during a store outage.
  expect(log.lines.find((l) => l.message === 'answer')).toMatchObject({ answer: 'tempfail', client: '192.0.2.9' });
  expect(log.lines.find((l) => l.message === 'answer')).not.toHaveProperty('rule');
  expect(observer.storeFailures).toBe(1);
});
