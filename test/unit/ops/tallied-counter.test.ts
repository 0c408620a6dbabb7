// TalliedCounter: increments gathered as plain numbers reach the exposition at each scrape, once.
import { Registry } from 'prom-client';
import { TalliedCounter } from '../../../src/ops/tallied-counter';

const series = async (registry: Registry, name: string): Promise<string[]> =>
  (await registry.metrics()).split('\n').filter((line) => line.startsWith(name));

test('each combination of label values is its own series, counted since the start', async () => {
  const registry = new Registry();
  const replies = new TalliedCounter({ name: 'test_replies_total', help: 'h', labelNames: ['stage', 'reply'], registers: [registry] });
  replies.inc('rcpt', 'continue');
  replies.inc('rcpt', 'continue');
  replies.inc('rcpt', 'reject');
  replies.inc('mail', 'continue');
  expect(await series(registry, 'test_replies_total')).toEqual([
    'test_replies_total{stage="rcpt",reply="continue"} 2',
    'test_replies_total{stage="rcpt",reply="reject"} 1',
    'test_replies_total{stage="mail",reply="continue"} 1',
  ]);
  // A second scrape adds only what was counted in between: nothing is handed over twice.
  replies.inc('rcpt', 'reject');
  expect(await series(registry, 'test_replies_total')).toEqual([
    'test_replies_total{stage="rcpt",reply="continue"} 2',
    'test_replies_total{stage="rcpt",reply="reject"} 2',
    'test_replies_total{stage="mail",reply="continue"} 1',
  ]);
});

test('three labels, and none', async () => {
  const registry = new Registry();
  const answers = new TalliedCounter({ name: 'test_answers_total', help: 'h', labelNames: ['event', 'answer', 'observe'], registers: [registry] });
  const accepted = new TalliedCounter({ name: 'test_accepted_total', help: 'h', registers: [registry] });
  answers.inc('rcpt', 'reject', 'false');
  answers.inc('rcpt', 'reject', 'true');
  accepted.inc();
  accepted.inc();
  accepted.inc();
  expect(await series(registry, 'test_answers_total')).toEqual([
    'test_answers_total{event="rcpt",answer="reject",observe="false"} 1',
    'test_answers_total{event="rcpt",answer="reject",observe="true"} 1',
  ]);
  expect(await series(registry, 'test_accepted_total')).toEqual(['test_accepted_total 3']);
});

test('a missing label value is a programming error, refused at the call', () => {
  const counter = new TalliedCounter({ name: 'test_events_total', help: 'h', labelNames: ['stage'], registers: [] });
  expect(() => counter.inc()).toThrow(/test_events_total: no value for the label stage/);
  expect(() => new TalliedCounter({ name: 'test_wide_total', help: 'h', labelNames: ['a', 'b', 'c', 'd'], registers: [] })).toThrow(/at most three labels/);
});
