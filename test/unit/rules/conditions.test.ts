// Every `when` matcher, positive and negative, against present and absent facts, and the combinators.
import { parseRuleSet } from '../../../src/rules/loader';
import type { Condition, Facts, RuleEvent } from '../../../src/rules/rule-set';

const LISTS = `lists:
  nets: { cidr: [192.0.2.0/24, "2001:db8::/32"] }
  free: { domains: [gmail.com, example.net] }
  vips: { addresses: [CEO@Example.org] }
  dynamic: { patterns: ["\\\\d+-\\\\d+-\\\\d+", "^dsl\\\\."] }
`;

/** Compiles one rule with this `when` (YAML flow or block text, indented by the caller) on the events. */
function condition(when: string, on: RuleEvent[] = ['rcpt']): Condition {
  const text = `keys: { ip: { half_life: 1m } }\n${LISTS}rules:\n  - name: r\n    on: [${on.join(', ')}]\n    when:\n${when.replace(/^/gm, '      ')}\n    add: { ip: 1 }\n`;
  return parseRuleSet(text, 'rules.yml').rules[0].condition;
}

function facts(f: Partial<Facts> & { macros?: Record<string, string> } = {}): Facts {
  const { macros = {}, ...rest } = f;
  return { event: 'rcpt', macro: (name) => macros[name], ...rest };
}

type Case = [string, Partial<Facts> & { macros?: Record<string, string> }, boolean];

function check(when: string, cases: Case[], on?: RuleEvent[]): void {
  const c = condition(when, on);
  for (const [label, f, expected] of cases) {
    if (c(facts(f)) !== expected) throw new Error(`${when} / ${label}: expected ${expected}`);
  }
}

describe('client_ip', () => {
  test('in: inline CIDRs', () =>
    check('client_ip: { in: [10.0.0.0/8, "::1"] }', [
      ['inside', { clientIp: '10.1.2.3' }, true],
      ['mapped inside', { clientIp: '::ffff:10.1.2.3' }, true],
      ['v6 loopback', { clientIp: '::1' }, true],
      ['outside', { clientIp: '11.0.0.1' }, false],
      ['absent', {}, false],
    ]));
  test('list: a cidr list', () =>
    check('client_ip: { list: nets }', [
      ['v4', { clientIp: '192.0.2.7' }, true],
      ['v6', { clientIp: '2001:db8:1::7' }, true],
      ['other', { clientIp: '198.51.100.1' }, false],
      ['absent', {}, false],
    ]));
});

describe('domain facts: subdomain match', () => {
  test.each([
    ['client_name', 'clientName'],
    ['helo', 'helo'],
    ['sender_domain', 'senderDomain'],
    ['recipient_domain', 'recipientDomain'],
  ] as const)('%s', (field, fact) => {
    check(`${field}: { in: [Example.COM] }`, [
      ['exact', { [fact]: 'example.com' }, true],
      ['subdomain', { [fact]: 'mx.example.com' }, true],
      ['look-alike', { [fact]: 'badexample.com' }, false],
      ['absent', {}, false],
    ]);
    check(`${field}: { list: free }`, [
      ['listed', { [fact]: 'mail.gmail.com' }, true],
      ['not listed', { [fact]: 'example.org' }, false],
    ]);
    check(`${field}: { list: dynamic }`, [
      ['pattern', { [fact]: '1-2-3.pool.example.org' }, true],
      ['no pattern', { [fact]: 'mail.example.org' }, false],
    ]);
    check(`${field}: { matches: "^mx[0-9]+\\\\." }`, [
      ['match', { [fact]: 'mx12.example.org' }, true],
      ['no match', { [fact]: 'mail.example.org' }, false],
      ['absent', {}, false],
    ]);
    check(`${field}: { equals: Mail.Example.ORG. }`, [
      ['equal after normalising', { [fact]: 'mail.example.org' }, true],
      ['subdomain is not equal', { [fact]: 'a.mail.example.org' }, false],
      ['absent', {}, false],
    ]);
    check(`${field}: { present: true }`, [
      ['present', { [fact]: 'x.example' }, true],
      ['absent', {}, false],
    ]);
    check(`${field}: { present: false }`, [
      ['present', { [fact]: 'x.example' }, false],
      ['absent', {}, true],
    ]);
  });
});

describe('address facts: exact match', () => {
  test.each([
    ['sender', 'sender'],
    ['recipient', 'recipient'],
    ['auth_user', 'authUser'],
  ] as const)('%s', (field, fact) => {
    check(`${field}: { in: ["<Ops@Example.org>"] }`, [
      ['equal', { [fact]: 'ops@example.org' }, true],
      ['other', { [fact]: 'ops@example.org.evil' }, false],
      ['absent', {}, false],
    ]);
    check(`${field}: { list: vips }`, [
      ['listed', { [fact]: 'ceo@example.org' }, true],
      ['not listed', { [fact]: 'cfo@example.org' }, false],
      ['absent', {}, false],
    ]);
    check(`${field}: { matches: "^bounce-" }`, [
      ['match', { [fact]: 'bounce-123@example.org' }, true],
      ['no match', { [fact]: 'joe@example.org' }, false],
    ]);
    check(`${field}: { equals: Joe@Example.org }`, [
      ['equal', { [fact]: 'joe@example.org' }, true],
      ['other', { [fact]: 'jo@example.org' }, false],
    ]);
    check(`${field}: { present: false }`, [
      ['present', { [fact]: 'joe@example.org' }, false],
      ['absent', {}, true],
    ]);
  });

  test('sender null: the null sender <> is the empty string', () => {
    const cases = (expectNull: boolean): Case[] => [
      ['null sender', { sender: '' }, expectNull],
      ['real sender', { sender: 'joe@example.org' }, !expectNull],
      ['absent', {}, false],
    ];
    check('sender: { null: true }', cases(true));
    check('sender: { null: false }', cases(false));
    check('sender: { "null": true }', cases(true));
    check('sender: { present: true }', [
      ['the null sender is present', { sender: '' }, true],
      ['absent', {}, false],
    ]);
  });

  test('several matchers in one field must all hold', () =>
    check('sender: { matches: "@example\\\\.org$", present: true, null: false }', [
      ['all hold', { sender: 'joe@example.org' }, true],
      ['one fails', { sender: 'joe@example.net' }, false],
    ]));
});

describe('size, rejected_by_mta, macros', () => {
  test('size over (eom only)', () =>
    check(
      'size: { over: 1000 }',
      [
        ['over', { size: 1001 }, true],
        ['equal', { size: 1000 }, false],
        ['absent', {}, false],
      ],
      ['eom'],
    ));
  test('rejected_by_mta (rcpt only)', () => {
    check('rejected_by_mta: true', [
      ['rejected', { recipientRejectedByMta: true }, true],
      ['accepted', { recipientRejectedByMta: false }, false],
      ['absent', {}, false],
    ]);
    check('rejected_by_mta: false', [
      ['accepted', { recipientRejectedByMta: false }, true],
      ['rejected', { recipientRejectedByMta: true }, false],
    ]);
  });
  test('macros: equals is exact, matches ignores case, present', () => {
    check('macros: { "{auth_type}": { equals: PLAIN } }', [
      ['exact', { macros: { '{auth_type}': 'PLAIN' } }, true],
      ['other case', { macros: { '{auth_type}': 'plain' } }, false],
      ['absent', {}, false],
    ]);
    check('macros: { "{daemon_name}": { matches: "^submission$" } }', [
      ['any case', { macros: { '{daemon_name}': 'SUBMISSION' } }, true],
      ['other', { macros: { '{daemon_name}': 'smtpd' } }, false],
    ]);
    check('macros: { "{auth_authen}": { present: false }, j: { present: true } }', [
      ['both hold', { macros: { j: 'mx.example.org' } }, true],
      ['authenticated', { macros: { j: 'mx', '{auth_authen}': 'joe' } }, false],
    ]);
  });
});

describe('combinators', () => {
  test('all entries of a when must hold', () =>
    check('client_ip: { in: [10.0.0.0/8] }\nsender_domain: { in: [example.org] }', [
      ['both', { clientIp: '10.0.0.1', senderDomain: 'example.org' }, true],
      ['only one', { clientIp: '10.0.0.1', senderDomain: 'example.net' }, false],
    ]));
  test('not: absent facts make the inner matcher false, so not is true', () =>
    check('not: { sender: { null: true } }', [
      ['null sender', { sender: '' }, false],
      ['real sender', { sender: 'a@b.example' }, true],
      ['absent', {}, true],
    ]));
  test('any: one alternative suffices; nested', () =>
    check('any:\n  - recipient_domain: { in: [example.com] }\n  - not: { auth_user: { present: true } }\n    helo: { matches: "^dsl" }', [
      ['first', { recipientDomain: 'example.com', authUser: 'x' }, true],
      ['second', { helo: 'dsl-1.example.net' }, true],
      ['neither', { recipientDomain: 'example.org', authUser: 'x', helo: 'dsl-1' }, false],
    ]));
  test('an empty when always holds', () => check('{}', [['anything', {}, true]]));
});
