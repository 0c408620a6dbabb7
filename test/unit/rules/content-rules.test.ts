// The content conditions (keywords, attachment, unparseable, session_age, size at mail), the
// content actions and marks, and what the loader refuses about them.
import { ConfigError } from '../../../src/config/errors';
import type { AttachmentInfo, MessageContent } from '../../../src/content/message-content';
import { plan } from '../../../src/engine/plan';
import { parseRuleSet } from '../../../src/rules/loader';
import type { Facts, RuleEvent, RuleSet } from '../../../src/rules/rule-set';

function content(c: Partial<MessageContent> = {}): MessageContent {
  return { headers: [], text: '', textTruncated: false, attachments: [], size: 0, messageId: undefined, subject: undefined, problems: [], unparseable: undefined, ...c };
}

function attachment(name: string | undefined, type = 'application/octet-stream', size = 100, depth = 0): AttachmentInfo {
  return { name, type, size, depth };
}

function rules(body: string): RuleSet {
  return parseRuleSet(`keys: { ip: { half_life: 1m } }\nrules:\n${body.replace(/^/gm, '  ')}\n`, 'rules.yml');
}

function holds(ruleSet: RuleSet, f: Partial<Facts>, event: RuleEvent = 'eom'): boolean {
  return ruleSet.rules[0]!.condition({ event, macro: () => undefined, ...f });
}

function problems(body: string): string {
  try {
    rules(body);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  return '';
}

const EXAMPLE_KEYWORDS = `phrases:
  - { text: casino bonus, match: contains }
  - { text: viagra, match: contains }
  - { text: Lottery Winner, match: exact, case_sensitive: true }
threshold: 2`;

describe('keywords', () => {
  const set = rules(`- name: spam
  on: eom
  when:
    keywords:
${EXAMPLE_KEYWORDS.replace(/^/gm, '      ')}
  add: { ip: 1 }`);
  const subject = (value: string) => ({ name: 'Subject', value });

  test('two of three phrases, in headers or body, hold; one does not', () => {
    expect(holds(set, { content: content({ headers: [subject('Your CASINO   bonus')], text: 'buy VIAGRA now' }) })).toBe(true);
    expect(holds(set, { content: content({ text: 'casino bonus\nand viagra' }) })).toBe(true);
    expect(holds(set, { content: content({ headers: [subject('casino bonus')] }) })).toBe(false);
  });

  test('exact compares a whole value or line, case-sensitively when asked', () => {
    expect(holds(set, { content: content({ headers: [subject('Lottery Winner')], text: 'viagra' }) })).toBe(true);
    expect(holds(set, { content: content({ headers: [subject('lottery winner')], text: 'viagra' }) })).toBe(false);
    expect(holds(set, { content: content({ headers: [subject('The Lottery Winner')], text: 'viagra' }) })).toBe(false);
    expect(holds(set, { content: content({ text: 'viagra\n  Lottery Winner  \n' }) })).toBe(true);
  });

  test('contains finds a phrase broken over a line of the body', () => {
    expect(holds(set, { content: content({ text: 'a casino\r\nbonus for you, viagra' }) })).toBe(true);
  });

  test('starts and ends, named headers only, body only', () => {
    const s = rules(`- name: k
  on: eom
  when: { keywords: { phrases: [{ text: "re:", match: starts }, { text: "!!!", match: ends }], headers: [Subject], in: [headers], threshold: 2 } }
  add: { ip: 1 }`);
    expect(holds(s, { content: content({ headers: [subject('RE: win!!!')] }) })).toBe(true);
    expect(holds(s, { content: content({ headers: [{ name: 'From', value: 're: x!!!' }] }) })).toBe(false);
    expect(holds(s, { content: content({ text: 're: win!!!' }) })).toBe(false);
    const body = rules(`- { name: b, on: eom, when: { keywords: { phrases: [unsubscribe], in: [body] } }, add: { ip: 1 } }`);
    expect(holds(body, { content: content({ headers: [subject('unsubscribe')] }) })).toBe(false);
    expect(holds(body, { content: content({ text: 'To UNSUBSCRIBE click' }) })).toBe(true);
  });

  test('no content (the scanner did not run) never holds', () => {
    expect(holds(set, {})).toBe(false);
  });

  test('header-only keywords are known at header; body keywords only at eom', () => {
    const s = rules(`- { name: h, on: header, when: { keywords: { phrases: [x], in: [headers] } }, add: { ip: 1 } }`);
    expect(s.message).toMatchObject({ headers: true, body: false });
    expect([...s.events]).toEqual(['header']);
    expect(problems(`- { name: h, on: header, when: { keywords: { phrases: [x] } }, add: { ip: 1 } }`)).toMatch(/"keywords" is not known at header: it is available only at eom/);
    expect(rules(`- { name: b, on: eom, when: { keywords: { phrases: [x] } }, add: { ip: 1 } }`).message).toMatchObject({ headers: true, body: true, parseBody: true });
  });

  test('a threshold above the number of phrases is refused', () => {
    expect(problems(`- { name: k, on: eom, when: { keywords: { phrases: [a, b], threshold: 3 } }, add: { ip: 1 } }`)).toMatch(/threshold 3 is more than the 2 phrases/);
    expect(problems(`- { name: k, on: eom, when: { keywords: { phrases: [{ text: a, match: near }] } }, add: { ip: 1 } }`)).toMatch(/match/);
  });
});

describe('attachment', () => {
  const named = (glob: string) => rules(`- { name: a, on: eom, when: { attachment: { name: ["${glob}"] } }, reject: { code: 554, ext: 5.7.1, text: "attachment {attachment} refused" } }`);
  const exe = named('*.exe');

  test('a glob on the file name, any case, at any depth, also as the last of a double extension', () => {
    expect(holds(exe, { content: content({ attachments: [attachment('setup.EXE')] }) })).toBe(true);
    expect(holds(exe, { content: content({ attachments: [attachment('invoice.pdf.exe', 'application/pdf', 10, 2)] }) })).toBe(true);
    expect(holds(exe, { content: content({ attachments: [attachment('exe.txt'), attachment(undefined)] }) })).toBe(false);
    expect(holds(exe, { content: content() })).toBe(false);
  });

  test('path segments and trailing dots or spaces do not hide the extension', () => {
    expect(holds(exe, { content: content({ attachments: [attachment('C:\\temp\\run.exe')] }) })).toBe(true);
    expect(holds(exe, { content: content({ attachments: [attachment('run.exe. . ')] }) })).toBe(true);
  });

  test('double_extension, type globs, size, regex name, all fields of one attachment', () => {
    const s = rules(`- { name: a, on: eom, when: { attachment: { double_extension: true } }, add: { ip: 1 } }`);
    expect(holds(s, { content: content({ attachments: [attachment('invoice.pdf.scr')] }) })).toBe(true);
    expect(holds(s, { content: content({ attachments: [attachment('backup.tar.gz'), attachment('report.pdf')] }) })).toBe(false);
    const t = rules(`- { name: a, on: eom, when: { attachment: { type: ["application/x-ms*", "application/java-archive"], size: { over: 1000 } } }, add: { ip: 1 } }`);
    expect(holds(t, { content: content({ attachments: [attachment('a', 'application/x-msdownload', 5000)] }) })).toBe(true);
    expect(holds(t, { content: content({ attachments: [attachment('a', 'application/x-msdownload', 10), attachment('b', 'image/png', 5000)] }) })).toBe(false);
    const r = rules(`- { name: a, on: eom, when: { attachment: { name_matches: "^invoice[0-9]+\\\\.zip$" } }, add: { ip: 1 } }`);
    expect(holds(r, { content: content({ attachments: [attachment('Invoice123.zip')] }) })).toBe(true);
  });

  test('the rule names the attachment that matched in its reply', () => {
    const f: Facts = { event: 'eom', macro: () => undefined, content: content({ attachments: [attachment('ok.txt'), attachment('évil.exe')] }) };
    expect(exe.rules[0]!.templateValues?.(f)).toEqual({ attachment: 'évil.exe' });
  });

  test('attachment is known only at eom and makes the body streamed', () => {
    expect(exe.message.body).toBe(true);
    expect(problems(`- { name: a, on: header, when: { attachment: { name: ["*.exe"] } }, add: { ip: 1 } }`)).toMatch(/"attachment" is not known at header/);
  });
});

describe('unparseable, session_age and size', () => {
  test('unparseable holds for a message the scanner could not follow', () => {
    const s = rules(`- { name: u, on: eom, when: { unparseable: true }, tempfail: { code: 451, ext: 4.3.0, text: "message could not be checked" } }`);
    expect(holds(s, { content: content({ unparseable: 'too-deep' }) })).toBe(true);
    expect(holds(s, { content: content() })).toBe(false);
    expect(s.message.body).toBe(true);
  });

  test('session_age compares with the session age at any event', () => {
    const s = rules(`- { name: old, on: [rcpt, eom], when: { session_age: { over: 15m } }, tempfail: { code: 421, ext: 4.7.0, text: "session too long" } }`);
    expect(holds(s, { sessionAgeMs: 16 * 60_000 }, 'rcpt')).toBe(true);
    expect(holds(s, { sessionAgeMs: 60_000 }, 'rcpt')).toBe(false);
    expect(holds(s, {}, 'rcpt')).toBe(false);
  });

  test('size at mail (declared) needs no body; at eom it does; size_kb points only there', () => {
    expect(rules(`- { name: s, on: mail, when: { size: { over: 10 } }, add: { ip: 1 } }`).message.body).toBe(false);
    expect(rules(`- { name: s, on: eom, add: { ip: size_kb } }`).message).toMatchObject({ headers: false, body: true, parseBody: false });
    expect(rules(`- { name: s, on: eom, when: { size: { over: 10 } }, add: { ip: 1 } }`).message).toMatchObject({ headers: false, body: true, parseBody: false });
    expect(problems(`- { name: s, on: rcpt, add: { ip: size_kb } }`)).toMatch(/"size_kb" are known only at mail/);
    const s = rules(`- { name: s, on: mail, add: { ip: size_kb } }`);
    expect(plan(s, { event: 'mail', clientIp: '192.0.2.1', size: 3 * 1024 * 1024, macro: () => undefined }).updates[0]!.points).toBe(3072);
    expect(plan(s, { event: 'mail', clientIp: '192.0.2.1', macro: () => undefined }).updates[0]!.points).toBe(0);
  });
});

describe('content actions and marks', () => {
  test('marks are compiled, collected by the planner, and listed for negotiation', () => {
    const s = rules(`- name: mark
  on: eom
  when: { keywords: { phrases: [spam] } }
  subject_prefix: "[SPAM] "
  header: [{ name: X-Floodgate-Spam, value: "yes" }, { name: X-Other, value: "1" }]
- { name: hold, on: eom, when: { keywords: { phrases: [hold] } }, quarantine: "held by floodgate" }
- { name: away, on: eom, when: { keywords: { phrases: [away] } }, redirect: "spambox@{recipient_domain}" }
- { name: watch, on: eom, when: { keywords: { phrases: [spam] } }, redirect: "x@example.org", observe: true }`);
    expect(s.rules[0]!.marks).toEqual({ subjectPrefix: '[SPAM] ', headers: [{ name: 'X-Floodgate-Spam', value: 'yes' }, { name: 'X-Other', value: '1' }] });
    expect([...s.message.marks].sort()).toEqual(['header', 'quarantine', 'redirect', 'subject_prefix']);
    const p = plan(s, { event: 'eom', macro: () => undefined, content: content({ text: 'spam and away' }) });
    expect(p.marking.map((r) => r.name)).toEqual(['mark', 'away']);
    expect(p.matched.map((r) => r.name)).toEqual(['mark', 'away', 'watch']);
  });

  test('discard is a rule answer from mail on', () => {
    const s = rules(`- { name: d, on: eom, when: { keywords: { phrases: [x] } }, discard: true }`);
    expect(s.rules[0]!.action).toEqual({ kind: 'discard' });
    expect(problems(`- { name: d, on: connect, discard: true }`)).toMatch(/there is none at connect or helo/);
  });

  test('marks before the message exists, bad headers, addresses and placeholders are refused', () => {
    expect(problems(`- { name: m, on: rcpt, subject_prefix: "[x] " }`)).toMatch(/exists only from header on; rule "m" is on rcpt/);
    expect(problems(`- { name: m, on: eom, header: { name: "X Bad", value: v } }`)).toMatch(/"X Bad" is not a header name/);
    expect(problems(`- { name: m, on: eom, header: { name: X-A, value: "a\\nb" } }`)).toMatch(/CR, LF or NUL/);
    expect(problems(`- { name: m, on: eom, redirect: "spambox" }`)).toMatch(/redirect "spambox" is not an address/);
    expect(problems(`- { name: m, on: eom, redirect: "spambox@{client_name}" }`)).toMatch(/only \{recipient_domain\} and \{sender_domain\}/);
    expect(problems(`- { name: m, on: eom, ok: true, quarantine: q }`)).toMatch(/an allow-list rule changes nothing/);
  });

  test('the content section sets the scanner limits', () => {
    const s = parseRuleSet(`keys: { ip: { half_life: 1m } }\ncontent: { max_scan_bytes: 65536, max_parts: 50, max_depth: 5 }\nrules:\n  - { name: k, on: eom, when: { keywords: { phrases: [x] } }, add: { ip: 1 } }\n`, 'r.yml');
    expect(s.message.scan).toEqual({ maxScanBytes: 65536, maxParts: 50, maxDepth: 5 });
  });
});

describe('track: (tracking copies)', () => {
  const load = (track: string) => parseRuleSet(`keys: { ip: { half_life: 1m } }\nlists:\n  vip: { addresses: [ceo@customer.example] }\nrules:\n  - { name: count, on: rcpt, add: { ip: 1 } }\ntrack:\n${track.replace(/^/gm, '  ')}\n`, 'r.yml');

  test('entries hold per recipient, read as at RCPT; the body and recipients are then asked for', () => {
    const set = load(`- { name: vip-mail, when: { any: [{ sender: { list: vip } }, { recipient: { list: vip } }] } }\n- { name: counted, rules: [count] }`);
    const [vip, counted] = set.track;
    const facts = (f: Partial<Facts>): Facts => ({ event: 'rcpt', macro: () => undefined, ...f });
    expect(vip!.condition(facts({ sender: 'ceo@customer.example' }))).toBe(true);
    expect(vip!.condition(facts({ sender: 'x@y.example', recipient: 'ceo@customer.example' }))).toBe(true);
    expect(vip!.condition(facts({ sender: 'x@y.example', recipient: 'z@y.example' }))).toBe(false);
    expect(counted!.rules).toEqual(new Set(['count']));
    expect(set.message).toMatchObject({ headers: true, body: true });
  });

  test('unknown rules, duplicate or unsafe names, lookups and content facts are refused', () => {
    expect(() => load(`- { name: a, rules: [nope] }`)).toThrow(/rule "nope" is not defined in rules/);
    expect(() => load(`- { name: a }\n- { name: A }`)).toThrow(/duplicate track name "A"/);
    expect(() => load(`- { name: ../etc }`)).toThrow(/must match pattern/);
    expect(() => load(`- { name: a, when: { keywords: { phrases: [x] } } }`)).toThrow(/"keywords" is not known at rcpt/);
    expect(load(`- { name: everything }`).warnings.join('\n')).toMatch(/copies every message/);
  });
});
