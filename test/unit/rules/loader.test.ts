// The loader: a complete file compiles to the expected frozen structure; problems are collected, ordered and located.
import { join } from 'node:path';
import { ConfigError, formatProblem } from '../../../src/config/errors';
import { keyClassParts, keyClassProblem, loadRuleSet, parseRuleSet } from '../../../src/rules/loader';
import type { Facts, RuleSet } from '../../../src/rules/rule-set';

const FULL = join(__dirname, '..', '..', 'fixtures', 'rules', 'valid', 'full.yml');
const at = (line: number, column: number) => ({ file: FULL, line, column });

function problems(text: string): string[] {
  try {
    parseRuleSet(text, 'rules.yml');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems.map(formatProblem);
  }
  throw new Error('accepted');
}

describe('a complete rules file', () => {
  let ruleSet: RuleSet;
  beforeAll(() => {
    ruleSet = loadRuleSet(FULL);
  });

  test('loads without warnings', () => {
    expect(ruleSet.warnings).toEqual([]);
    expect(ruleSet.source).toBe(FULL);
  });

  test('rules keep their order, events, points and flags', () => {
    expect(ruleSet.rules.map((r) => ({ name: r.name, location: r.location, events: [...r.events], add: Object.fromEntries(r.add), ok: r.ok, observe: r.observe }))).toEqual([
      { name: 'trusted-networks', location: at(18, 5), events: ['connect'], add: {}, ok: true, observe: false },
      { name: 'trusted-file', location: at(23, 5), events: ['connect'], add: {}, ok: true, observe: false },
      { name: 'vip-logins', location: at(28, 5), events: ['mail', 'rcpt'], add: {}, ok: true, observe: false },
      { name: 'count-recipients', location: at(33, 5), events: ['rcpt'], add: { ip: 1, network: 1, 'ip+sender': 1 }, ok: false, observe: false },
      { name: 'odd-helo', location: at(41, 5), events: ['mail'], add: { ip: 5 }, ok: false, observe: true },
    ]);
    expect([...ruleSet.events]).toEqual(['connect', 'mail', 'rcpt']);
    expect(ruleSet.message).toEqual({ headers: false, body: false, parseBody: false, marks: new Set(), scan: {} });
  });

  test('conditions use the lists, including the list file', () => {
    const f = (facts: Partial<Facts>): Facts => ({ event: 'connect', macro: () => undefined, ...facts });
    const [networks, file, vips, count, odd] = ruleSet.rules.map((r) => r.condition);
    expect(networks(f({ clientIp: '127.0.0.1' }))).toBe(true);
    expect(networks(f({ clientIp: '192.0.2.1' }))).toBe(false);
    expect(file(f({ clientIp: '192.0.2.1' }))).toBe(true);
    expect(file(f({ clientIp: '2001:db8:aa:1::1' }))).toBe(true);
    expect(file(f({ clientIp: '198.51.100.7' }))).toBe(true);
    expect(vips(f({ authUser: 'ceo@example.org' }))).toBe(true);
    expect(count(f({ sender: '', recipientDomain: 'example.com' }))).toBe(false);
    expect(count(f({ sender: 'a@b.example', recipientDomain: 'example.com', authUser: 'x' }))).toBe(true);
    expect(count(f({ sender: 'a@b.example', recipientDomain: 'example.org' }))).toBe(true);
    expect(count(f({ sender: 'a@b.example', recipientDomain: 'example.org', authUser: 'x' }))).toBe(false);
    expect(odd(f({ helo: '1-2-3.example.net', senderDomain: 'gmail.com' }))).toBe(true);
  });

  test('key classes with their settings; thresholds sorted below-first, then above ascending', () => {
    const classes = Object.fromEntries([...ruleSet.keyClasses].map(([name, s]) => [name, { ...s, thresholds: s.thresholds.map((t) => ({ ...t })) }]));
    const side = { log: true, mail: false, delete: false, observe: false };
    expect(classes).toEqual({
      ip: {
        parts: ['ip'],
        halfLifeMs: 600_000,
        ipv4Prefix: 24,
        ipv6Prefix: 64,
        thresholds: [
          { location: at(55, 7), below: -50, action: { kind: 'ok' }, ...side },
          { location: at(53, 7), above: 30, action: { kind: 'delay', seconds: 2 }, ...side },
          { location: at(57, 7), above: 60, action: { kind: 'tempfail', reply: { code: '451', ext: '4.7.1', text: ['Too much mail from %s,', 'slow down'] } }, ...side, mail: true },
          { location: at(50, 7), above: 200, action: { kind: 'reject', reply: { code: '550', ext: '5.7.1', text: 'Blocked for flooding' } }, ...side, observe: true },
        ],
      },
      network: {
        parts: ['network'],
        halfLifeMs: 1_800_000,
        ipv4Prefix: 24,
        ipv6Prefix: 48,
        thresholds: [
          { location: at(66, 7), above: 10, action: { kind: 'continue' }, ...side, log: false },
          { location: at(62, 7), above: 100, action: { kind: 'tempfail' }, ...side, delete: true, header: { name: 'X-Floodgate', value: 'network busy' } },
        ],
      },
      'ip+sender': { parts: ['ip', 'sender'], halfLifeMs: 3_600_000, ipv4Prefix: 24, ipv6Prefix: 64, thresholds: [{ location: at(69, 7), above: 20, action: { kind: 'discard' }, ...side }] },
    });
  });

  test('the alert section', () => {
    expect(ruleSet.alert).toEqual({ relay: { host: '127.0.0.1', port: 25 }, from: 'floodgate@example.org', to: ['postmaster@example.org'], cooldownMs: 3_600_000 });
  });

  test('everything is frozen, including the Maps and Sets', () => {
    expect(Object.isFrozen(ruleSet)).toBe(true);
    expect(Object.isFrozen(ruleSet.rules)).toBe(true);
    expect(Object.isFrozen(ruleSet.rules[0])).toBe(true);
    expect(Object.isFrozen(ruleSet.warnings)).toBe(true);
    const ip = ruleSet.keyClasses.get('ip');
    expect(Object.isFrozen(ip?.thresholds)).toBe(true);
    expect(Object.isFrozen(ip?.thresholds[2].action)).toBe(true);
    expect(() => (ruleSet.keyClasses as Map<string, unknown>).set('x', {})).toThrow(TypeError);
    expect(() => (ruleSet.keyClasses as Map<string, unknown>).clear()).toThrow(TypeError);
    expect(() => (ruleSet.events as Set<string>).add('eom')).toThrow(TypeError);
    expect(() => (ruleSet.rules[0].events as Set<string>).delete('connect')).toThrow(TypeError);
    expect(() => (ruleSet.rules[3].add as Map<string, number>).set('ip', 1000)).toThrow(TypeError);
    expect(() => (ruleSet.alert?.to as string[]).push('x@example.org')).toThrow(TypeError);
    expect(ruleSet.keyClasses.size).toBe(3);
  });
});

test('the shipped rules/default.yml loads without errors or warnings', () => {
  const shipped = loadRuleSet(join(__dirname, '..', '..', '..', 'rules', 'default.yml'));
  expect(shipped.warnings).toEqual([]);
  expect(shipped.rules.length).toBeGreaterThan(0);
});

describe('compilation details', () => {
  const base = 'keys: { ip: { half_life: 10m } }\nrules:\n  - { name: r, on: [connect, eom], add: { ip: 0 } }\n';

  test('a reply code may be written as a number, and text may be left out', () => {
    const set = parseRuleSet(`${base}thresholds:\n  ip:\n    - { above: 1, tempfail: { code: 421 } }\n    - { above: 2, reject: { code: 554, ext: 5.7.1 } }\n`, 'r.yml');
    expect(set.keyClasses.get('ip')?.thresholds.map((t) => t.action)).toEqual([
      { kind: 'tempfail', reply: { code: '421', text: 'Too much mail, try again later' } },
      { kind: 'reject', reply: { code: '554', ext: '5.7.1', text: 'Message refused' } },
    ]);
  });

  test('a size condition makes the rule set ask for the message size', () => {
    const set = parseRuleSet('keys: { ip: { half_life: 10m } }\nrules:\n  - { name: big, on: eom, when: { size: { over: 100 } }, add: { ip: 1 } }\n', 'r.yml');
    expect(set.message.body).toBe(true);
    expect([...set.events]).toEqual(['eom']);
  });

  test('an empty file is an empty rule set (with a warning)', () => {
    const set = parseRuleSet('', 'r.yml');
    expect(set.rules).toEqual([]);
    expect(set.keyClasses.size).toBe(0);
    expect(set.events.size).toBe(0);
    expect(set.alert).toBeUndefined();
    expect(set.warnings).toEqual(['r.yml:1:1: warning: no rules: every message passes unchecked']);
  });

  test('every problem is reported together, in file order', () => {
    const text = [
      'thresholds:',
      '  ip:',
      '    - { above: 1 }',
      'keys: { ip: { half_life: 10m }, ip+nope: { half_life: 1m } }',
      'rules:',
      '  - { name: a, on: connect, when: { sender: { present: true } }, add: { ip: 1, x: 2 } }',
      '  - { name: a, on: rcpt, add: { ip: 1 } }',
    ].join('\n');
    expect(problems(text)).toEqual([
      'rules.yml:3:7: threshold needs one action: delay, tempfail, reject, discard, ok, continue',
      'rules.yml:4:33: key class "ip+nope" has an unknown part "nope" (parts: ip, network, helo, sender, sender_domain, recipient, recipient_domain, auth_user, joined by \'+\')',
      'rules.yml:6:37: "sender" is not known at connect: it is available only at mail, rcpt, header, eom (rule "a")',
      'rules.yml:6:80: key class "x" is not declared in keys',
      'rules.yml:7:13: duplicate rule name "a" (first used at line 6)',
    ]);
  });

  test('schema problems are all reported, without ajv\'s "must match then schema" echo', () => {
    expect(problems('rules:\n  - name: a\n    on: [connect, bogus]\n    add: { ip: one }\n    color: red\n')).toEqual([
      'rules.yml:3:19: rules.0.on.1 must be one of "connect", "helo", "mail", "rcpt", "header", "eom"',
      'rules.yml:4:16: rules.0.add.ip must be one of "dnsbl", "rhsbl", "size_kb"',
      'rules.yml:5:5: unknown field "color" in rules.0',
    ]);
  });

  test.each([
    ['mail.example.org', { host: 'mail.example.org', port: 25 }],
    ['127.0.0.1:2525', { host: '127.0.0.1', port: 2525 }],
    ['[2001:db8::25]:587', { host: '2001:db8::25', port: 587 }],
    ['[::1]', { host: '::1', port: 25 }],
  ])('alert relay %j', (relay, expected) => {
    const set = parseRuleSet(`${base}alert: { relay: "${relay}", from: fg@example.org, to: [pm@example.org] }\n`, 'r.yml');
    expect(set.alert?.relay).toEqual(expected);
    expect(set.alert?.cooldownMs).toBe(3_600_000);
  });

  test.each([['mail.example.org:0'], ['::1:25'], ['host name:25'], ['mail.example.org:']])('alert relay %j is refused', (relay) => {
    expect(problems(`${base}alert: { relay: "${relay}", from: fg@example.org, to: [pm@example.org] }\n`)).toEqual([expect.stringContaining('must be host, host:port or [IPv6]:port')]);
  });

  test('a rule with an empty add and no ok does nothing: an error', () => {
    expect(problems('keys: { ip: { half_life: 1m } }\nrules:\n  - { name: idle, on: connect, add: {} }\n')).toEqual([
      'rules.yml:3:5: rule "idle" does nothing: give it add (points), ok: true (allow-list), an answer (delay, tempfail, reject, discard) or a change to the message',
    ]);
  });

  test('null: is only allowed on sender, and the error names it', () => {
    expect(problems('rules:\n  - name: a\n    on: rcpt\n    when: { recipient: { null: true } }\n    ok: true\n')).toEqual([
      'rules.yml:4:26: unknown field "null" in rules.0.when.recipient', // at the key itself, as for any unknown field
    ]);
  });

  test('an unreadable rules file is a configuration error', () => {
    expect(() => loadRuleSet('/nonexistent/rules.yml')).toThrow(expect.objectContaining({ code: 'FG_ERR_CONFIG', message: '/nonexistent/rules.yml:0:0: cannot read: ENOENT' }));
  });

  test('max_delay cuts delays in the compiled rule set', () => {
    const set = parseRuleSet(`${base}thresholds:\n  ip:\n    - { above: 1, delay: 40s }\n`, 'r.yml', { maxDelayMs: 8000, mtaTimeoutMs: 10_000 });
    expect(set.keyClasses.get('ip')?.thresholds[0].action).toEqual({ kind: 'delay', seconds: 8 });
  });
});

describe('key class names', () => {
  test('parts in the order written', () => {
    expect(keyClassParts('ip')).toEqual(['ip']);
    expect(keyClassParts('sender_domain+network')).toEqual(['sender_domain', 'network']);
  });
  test.each([
    ['ip', undefined],
    ['ip+sender+recipient_domain', undefined],
    ['ip+', 'unknown part ""'],
    ['IP', 'unknown part "IP"'],
    ['ip+helo+ip', 'names "ip" twice'],
  ])('%j', (name, fragment) => {
    const problem = keyClassProblem(name);
    if (fragment === undefined) expect(problem).toBeUndefined();
    else expect(problem).toContain(fragment);
  });
});
