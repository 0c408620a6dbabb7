// From rule actions to milter verdicts, and the stages negotiated for a rule set.
import { Action } from '../../../src/milter/constants';
import { needsOf, toVerdict } from '../../../src/handler/verdicts';
import { parseRuleSet } from '../../../src/rules/loader';

const reply = { code: '451', ext: '4.7.1', text: 'slow down' } as const;

test.each([
  [{ kind: 'ok' }, 'rcpt', { kind: 'accept' }],
  [{ kind: 'continue' }, 'rcpt', { kind: 'continue' }],
  [{ kind: 'delay', seconds: 2 }, 'mail', { kind: 'delay', seconds: 2, then: { kind: 'continue' } }],
  [{ kind: 'discard' }, 'rcpt', { kind: 'discard' }],
  [{ kind: 'discard' }, 'connect', { kind: 'continue' }], // no message to discard yet
  [{ kind: 'discard' }, 'helo', { kind: 'continue' }],
  [{ kind: 'tempfail' }, 'rcpt', { kind: 'tempfail' }],
  [{ kind: 'tempfail', reply }, 'rcpt', { kind: 'tempfail', reply }],
  [{ kind: 'reject' }, 'eom', { kind: 'reject' }],
] as const)('%j at %s is %j', (action, event, verdict) => {
  expect(toVerdict(action as Parameters<typeof toVerdict>[0], event)).toEqual(verdict);
});

test('a rule set that counts only MAIL asks CONNECT, HELO and MAIL, no actions, no rejected recipients', () => {
  const needs = needsOf(parseRuleSet('keys: { ip: { half_life: 1m } }\nrules: [{ name: m, on: mail, add: { ip: 1 } }]\n', 'r.yml'));
  expect([...needs.stages].sort()).toEqual(['connect', 'helo', 'mail']);
  expect(needs.actions).toBe(0);
  expect(needs.rejectedRecipients).toBe(false);
});

test('events asked of the MTA that no rule counts are observe-only (candidates for no-reply); counted ones are answered', () => {
  const shippedLike = needsOf(parseRuleSet([
    'keys: { ip: { half_life: 1m } }',
    'lists: { trusted: { cidr: ["127.0.0.0/8"] } }',
    'rules:',
    '  - { name: t, on: connect, when: { client_ip: { list: trusted } }, ok: true }',
    '  - { name: r, on: rcpt, add: { ip: 1 } }',
  ].join('\n'), 'r.yml'));
  expect([...shippedLike.stages].sort()).toEqual(['connect', 'helo', 'mail', 'rcpt']);
  expect([...(shippedLike.observeOnly ?? [])].sort()).toEqual(['helo', 'mail']);
  // Tracking asks for RCPT without a rule counting it: its answer is always continue.
  const tracked = needsOf(parseRuleSet('keys: { ip: { half_life: 1m } }\nrules: [{ name: m, on: mail, add: { ip: 1 } }]\n', 'r.yml'), true);
  expect([...(tracked.observeOnly ?? [])].sort()).toEqual(['connect', 'helo', 'rcpt']);
});

test('header marks ask ADDHDRS', () => {
  const needs = needsOf(parseRuleSet([
    'keys: { ip: { half_life: 1m } }',
    'rules: [{ name: r, on: rcpt, add: { ip: 1 } }]',
    'thresholds: { ip: [{ above: 1, continue: true, header: { name: X-Busy, value: yes } }] }',
  ].join('\n'), 'r.yml'));
  expect(needs.actions & Action.ADDHDRS).toBe(Action.ADDHDRS);
  expect(needs.rejectedRecipients).toBe(true);
});

describe('the message stages negotiated', () => {
  const stagesOf = (rules: string) => [...needsOf(parseRuleSet(`keys: { ip: { half_life: 1m } }\nrules:\n${rules}`, 'r.yml')).stages].sort();
  test('the size alone: the body, not the header fields', () => {
    expect(stagesOf('  - { name: s, on: eom, when: { size: { over: 10 } }, add: { ip: 1 } }\n')).toEqual(['body', 'connect', 'helo', 'mail']);
  });
  test('keywords in headers: the fields and their end, not the body; in the body: all three', () => {
    expect(stagesOf('  - { name: k, on: header, when: { keywords: { phrases: [x], in: [headers] } }, add: { ip: 1 } }\n')).toEqual(['connect', 'eoh', 'header', 'helo', 'mail']);
    expect(stagesOf('  - { name: k, on: eom, when: { keywords: { phrases: [x] } }, add: { ip: 1 } }\n')).toEqual(['body', 'connect', 'eoh', 'header', 'helo', 'mail']);
  });
  test('a redirect needs every RCPT; a header-stage rule on the envelope only the end of the headers', () => {
    expect(stagesOf('  - { name: r, on: eom, when: { keywords: { phrases: [x] } }, redirect: "s@example.org" }\n')).toContain('rcpt');
    expect(stagesOf('  - { name: h, on: header, when: { client_ip: { in: [192.0.2.0/24] } }, add: { ip: 1 } }\n')).toEqual(['connect', 'eoh', 'helo', 'mail']);
  });
});
