// Warnings: legal files that almost certainly do not do what their author meant. Never fatal, always located.
import { parseRuleSet, type RuleSetOptions } from '../../../src/rules/loader';

const KEYS = 'keys: { ip: { half_life: 10m } }\n';
const COUNT = 'rules:\n  - { name: count, on: connect, add: { ip: 1 } }\n';

function warnings(text: string, opts?: RuleSetOptions): string[] {
  return [...parseRuleSet(text, 'rules.yml', opts).warnings];
}

describe('thresholds', () => {
  test('a repeated bound is reported at the later threshold, which is left out', () => {
    const text = `${KEYS}${COUNT}thresholds:\n  ip:\n    - { above: 30, delay: 1s }\n    - { above: 60, tempfail: true }\n    - { above: 30, reject: true }\n    - { below: -5, ok: true }\n    - { below: -5, continue: true }\n`;
    expect(warnings(text)).toEqual([
      'rules.yml:8:7: warning: threshold above 30 repeats the bound of line 6: its action (reject) is shadowed and never taken',
      'rules.yml:10:7: warning: threshold below -5 repeats the bound of line 9: its action (continue) is shadowed and never taken',
    ]);
    const kept = parseRuleSet(text, 'rules.yml').keyClasses.get('ip')?.thresholds.map((t) => t.action.kind);
    expect(kept).toEqual(['ok', 'delay', 'tempfail']);
  });

  test('a delay over max_delay is cut, and the warning says to what', () => {
    expect(warnings(`${KEYS}${COUNT}thresholds:\n  ip:\n    - above: 5\n      delay: 40s\n`)).toEqual(['rules.yml:7:14: warning: delay 40s exceeds max_delay 25s, it will be cut to 25s']);
  });

  test('a delay the MTA will not wait for (max_delay set above the MTA timeout)', () => {
    const text = `${KEYS}${COUNT}thresholds:\n  ip:\n    - { above: 5, delay: 12s }\n    - { above: 9, delay: 10s }\n    - { above: 12, delay: 9.5s }\n`;
    expect(warnings(text, { mtaTimeoutMs: 10_000, maxDelayMs: 60_000 })).toEqual([
      'rules.yml:6:26: warning: delay 12s exceeds MTA timeout 10s: the MTA gives up on the milter first',
      'rules.yml:7:26: warning: delay 10s reaches MTA timeout 10s: the MTA gives up on the milter first',
    ]);
  });

  test('a delay within both limits is silent', () => {
    expect(warnings(`${KEYS}${COUNT}thresholds:\n  ip:\n    - { above: 5, delay: 25s }\n`)).toEqual([]);
  });

  test('thresholds of a class no rule adds to are never evaluated', () => {
    const text = `keys: { ip: { half_life: 10m }, sender: { half_life: 1h } }\n${COUNT}thresholds:\n  sender:\n    - { above: 5, reject: true }\n`;
    expect(warnings(text)).toEqual(['rules.yml:5:3: warning: key class "sender" has thresholds but no rule adds to it: they are never evaluated']);
  });

  test('a class that adds 0 points (only checks thresholds) counts as used', () => {
    const text = `keys: { ip: { half_life: 10m } }\nrules:\n  - { name: check, on: connect, add: { ip: 0 } }\nthresholds:\n  ip:\n    - { above: 5, reject: true }\n`;
    expect(warnings(text)).toEqual([]);
  });
});

describe('rules', () => {
  test('rules after an unconditional allow-list rule on overlapping events are shadowed', () => {
    const text = [
      KEYS.trimEnd(),
      'rules:',
      '  - { name: allow-all, on: [connect, helo], ok: true }',
      '  - { name: at-connect, on: connect, add: { ip: 1 } }',
      '  - { name: at-helo-and-mail, on: [helo, mail], add: { ip: 1 } }',
      '  - { name: at-mail, on: mail, add: { ip: 1 } }',
      '',
    ].join('\n');
    expect(warnings(text)).toEqual([
      'rules.yml:4:5: warning: rule "at-connect" is shadowed by allow-list rule "allow-all" (line 3), which accepts everything at connect',
      'rules.yml:5:5: warning: rule "at-helo-and-mail" is shadowed by allow-list rule "allow-all" (line 3), which accepts everything at helo',
    ]);
  });

  test('an allow-list rule with a condition, or in observe mode, shadows nothing', () => {
    const text = [
      KEYS.trimEnd(),
      'rules:',
      '  - { name: allow-some, on: connect, when: { client_ip: { in: [127.0.0.1] } }, ok: true }',
      '  - { name: try-all, on: connect, ok: true, observe: true }',
      '  - { name: count, on: connect, add: { ip: 1 } }',
      '',
    ].join('\n');
    expect(warnings(text)).toEqual([]);
  });

  test('an empty when is no condition: the allow-list still shadows', () => {
    const text = `${KEYS}rules:\n  - { name: all, on: rcpt, when: {}, ok: true }\n  - { name: count, on: rcpt, add: { ip: 1 } }\n`;
    expect(warnings(text)).toEqual(['rules.yml:4:5: warning: rule "count" is shadowed by allow-list rule "all" (line 3), which accepts everything at rcpt']);
  });

  test('ok: true with add: the points are never added', () => {
    expect(warnings(`${KEYS}rules:\n  - { name: both, on: connect, ok: true, add: { ip: 1 } }\n`)).toEqual(['rules.yml:3:42: warning: rule "both" has ok: true, so its add is never applied']);
  });

  test.each([
    ['no rules section', ''],
    ['an empty rules list', 'rules: []\n'],
  ])('an empty rule set: %s', (_label, rules) => {
    const text = `${rules}`;
    expect(warnings(text)).toEqual([expect.stringMatching(/^rules\.yml:1:\d+: warning: no rules: every message passes unchecked$/)]);
  });
});

describe('declarations', () => {
  test('a key class declared but never used', () => {
    expect(warnings(`keys: { ip: { half_life: 10m }, helo: { half_life: 1m } }\n${COUNT}`)).toEqual(['rules.yml:1:33: warning: key class "helo" is declared but never used']);
  });

  test('a list declared but never used', () => {
    expect(warnings(`${KEYS}lists:\n  spare: { domains: [example.org] }\n${COUNT}`)).toEqual(['rules.yml:3:3: warning: list "spare" is never used']);
  });

  test('warnings come in file order, whatever the order of the checks', () => {
    const text = `keys:\n  helo: { half_life: 1m }\n  ip: { half_life: 10m }\n${COUNT}thresholds:\n  ip:\n    - { above: 5, delay: 99s }\n`;
    expect(warnings(text).map((w) => w.split(': warning')[0])).toEqual(['rules.yml:2:3', 'rules.yml:8:26']);
  });
});
