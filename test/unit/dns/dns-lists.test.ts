// DnsListChecker over a scripted lookup: answer validation, query names, weights, disabling and deadlines.
import { parseAnswerFilter, type AnswerFilter } from '../../../src/net/answer-filter';
import { DnsListChecker, judgeAnswers, type DnsListEvent, type DnsListSpec } from '../../../src/dns/dns-lists';
import type { DnsLookup, DnsOutcome } from '../../../src/dns/resolver';

type Outcome = DnsOutcome<string[]>;

/** Answers A queries from a table of names, other names with `otherwise` (NXDOMAIN); 'hang' never answers. */
class ScriptedLookup implements DnsLookup {
  asked: string[] = [];
  constructor(
    public answers: Record<string, Outcome | 'hang' | 'reject'> = {},
    private readonly otherwise: Outcome = { kind: 'nxdomain' },
  ) {}
  a(name: string): Promise<Outcome> {
    this.asked.push(name);
    const entry = this.answers[name] ?? this.otherwise;
    if (entry === 'hang') return new Promise(() => undefined);
    if (entry === 'reject') return Promise.reject(new Error('misbehaving resolver'));
    return Promise.resolve(entry);
  }
  aaaa(): Promise<Outcome> {
    throw new Error('not used');
  }
  ptr(): Promise<Outcome> {
    throw new Error('not used');
  }
}

const answer = (...values: string[]): Outcome => ({ kind: 'answer', values, ttlMs: 60_000 });

function filters(...texts: string[]): AnswerFilter[] {
  return texts.map((text) => {
    const f = parseAnswerFilter(text);
    if (typeof f === 'string') throw new Error(f);
    return f;
  });
}

function list(name: string, weight = 1, ...filterTexts: string[]): DnsListSpec {
  return { name, zone: `${name}.test`, filters: filters(...filterTexts), weight };
}

describe('judgeAnswers (the validation table)', () => {
  test.each([
    [['127.0.0.2'], [], 'listed'],
    [['127.0.0.2'], ['127.0.0.[2..3]'], 'listed'],
    [['127.0.0.10'], ['127.0.0.[2..3]'], 'not-listed'],
    [['127.0.0.10', '127.0.0.3'], ['127.0.0.[2..3]'], 'listed'],
    [['127.1.0.1'], [], 'listed'],
    // Spamhaus error codes never list, whatever comes with them.
    [['127.255.255.254'], [], 'list-error'],
    [['127.255.255.252'], [], 'list-error'],
    [['127.255.255.255'], ['127.0.0.0/8'], 'list-error'],
    [['127.0.0.2', '127.255.255.255'], [], 'list-error'],
    [['127.255.255.1'], [], 'list-error'],
    // A resolver rewriting NXDOMAIN to its own page server.
    [['198.51.100.7'], [], 'rewritten'],
    [['8.8.8.8', '203.0.113.5'], ['0.0.0.0/0'], 'rewritten'],
    // Non-loopback answers are ignored; the loopback ones still decide.
    [['198.51.100.7', '127.0.0.2'], [], 'listed'],
    [['198.51.100.7', '127.0.0.9'], ['127.0.0.2'], 'not-listed'],
    // 127.254.x is not the error range.
    [['127.254.255.254'], [], 'listed'],
  ])('%j with filters %j -> %s', (answers, filterTexts, status) => {
    expect(judgeAnswers(answers, filters(...filterTexts))).toBe(status);
  });
});

describe('query names and reports', () => {
  test('IPv4 is reversed, IPv6 is 32 nibbles, IPv4-mapped is IPv4; every list is asked', async () => {
    const lookup = new ScriptedLookup();
    const checker = new DnsListChecker(lookup, [list('one'), { ...list('two'), zone: '.Two.Test.' }], () => undefined);
    await checker.checkIp('192.0.2.1');
    await checker.checkIp('::ffff:192.0.2.99');
    await checker.checkIp('2001:DB8::1');
    const nibbles = '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2';
    expect(lookup.asked).toEqual(['1.2.0.192.one.test', '1.2.0.192.two.test', '99.2.0.192.one.test', '99.2.0.192.two.test', `${nibbles}.one.test`, `${nibbles}.two.test`]);
  });

  test('a listed address scores the sum of the weights of the lists that list it, allow-lists negative', async () => {
    const lookup = new ScriptedLookup({
      '2.0.0.127.black.test': answer('127.0.0.2'),
      '2.0.0.127.grey.test': answer('127.0.0.10'),
      '2.0.0.127.white.test': answer('127.0.10.1'),
    });
    const checker = new DnsListChecker(lookup, [list('black', 5), list('grey', 2, '127.0.0.[2..3]'), list('white', -3), list('none', 4)], () => undefined);
    const report = await checker.checkIp('127.0.0.2');
    expect(report).toEqual({
      score: 2,
      results: [
        { name: 'black', zone: 'black.test', status: 'listed', answers: ['127.0.0.2'], weight: 5 },
        { name: 'grey', zone: 'grey.test', status: 'not-listed', answers: ['127.0.0.10'], weight: 0 },
        { name: 'white', zone: 'white.test', status: 'listed', answers: ['127.0.10.1'], weight: -3 },
        { name: 'none', zone: 'none.test', status: 'not-listed', answers: [], weight: 0 },
      ],
    });
  });

  test('errors, timeouts and wrong answers count nothing', async () => {
    const lookup = new ScriptedLookup({
      '1.2.0.192.a.test': { kind: 'error', code: 'ESERVFAIL' },
      '1.2.0.192.b.test': { kind: 'timeout' },
      '1.2.0.192.c.test': answer('127.255.255.254'),
      '1.2.0.192.d.test': answer('198.51.100.7'),
      '1.2.0.192.e.test': 'reject',
    });
    const checker = new DnsListChecker(lookup, ['a', 'b', 'c', 'd', 'e'].map((n) => list(n, 10)), () => undefined);
    const report = await checker.checkIp('192.0.2.1');
    expect(report.score).toBe(0);
    expect(report.results.map((r) => [r.status, r.weight])).toEqual([
      ['error', 0],
      ['timeout', 0],
      ['list-error', 0],
      ['rewritten', 0],
      ['error', 0],
    ]);
  });

  test('RHSBL queries domain.zone, normalised and in A-label form', async () => {
    const lookup = new ScriptedLookup({ 'spam.example.rhs.test': answer('127.0.1.2') });
    const checker = new DnsListChecker(lookup, [list('rhs', 3)], () => undefined);
    expect(await checker.checkDomain('Spam.Example.')).toMatchObject({ score: 3, results: [{ status: 'listed' }] });
    await checker.checkDomain('bücher.example');
    expect(lookup.asked).toEqual(['spam.example.rhs.test', 'xn--bcher-kva.example.rhs.test']);
  });

  test.each(['[192.0.2.1]', '192.0.2.1', 'localhost', '', `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.example`])('no query for the implausible domain %j', async (domain) => {
    const lookup = new ScriptedLookup();
    const checker = new DnsListChecker(lookup, [list('rhs')], () => undefined);
    expect(await checker.checkDomain(domain)).toEqual({ score: 0, results: [] });
    expect(lookup.asked).toEqual([]);
  });

  test('a domain too long to sit under a zone is not listed there, without a query', async () => {
    const domain = `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}.ex`; // 246
    const lookup = new ScriptedLookup();
    const checker = new DnsListChecker(lookup, [{ ...list('long'), zone: 'a-long-zone.test' }, { ...list('s'), zone: 's.t' }], () => undefined);
    const report = await checker.checkDomain(domain);
    expect(report.results.map((r) => r.status)).toEqual(['not-listed', 'not-listed']);
    expect(lookup.asked).toEqual([`${domain}.s.t`]);
  });

  test('no query for something that is not an IP address', async () => {
    const lookup = new ScriptedLookup();
    const checker = new DnsListChecker(lookup, [list('bl')], () => undefined);
    expect(await checker.checkIp('unknown')).toEqual({ score: 0, results: [] });
    expect(lookup.asked).toEqual([]);
  });
});

describe('deadline', () => {
  test('lists still waiting at the deadline are reported as timeout, the others as answered', async () => {
    const lookup = new ScriptedLookup({ '1.2.0.192.slow.test': 'hang', '1.2.0.192.fast.test': answer('127.0.0.2') });
    const checker = new DnsListChecker(lookup, [list('slow', 7), list('fast', 2)], () => undefined);
    const started = Date.now();
    const report = await checker.checkIp('192.0.2.1', 50);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(report.score).toBe(2);
    expect(report.results.map((r) => r.status)).toEqual(['timeout', 'listed']);
  });
});

describe('disabling a list that keeps answering wrongly', () => {
  /** Every name answers `wrong` unless scripted otherwise; clients are 192.0.2.1, .2, ... */
  function setup(wrong: Outcome) {
    const clock = { now: 0 };
    const events: DnsListEvent[] = [];
    const lookup = new ScriptedLookup({}, wrong);
    const checker = new DnsListChecker(lookup, [list('zen', 5)], (e) => events.push(e), { now: () => clock.now, disableAfter: 3, disableForMs: 60_000 });
    const status = async (client: number) => (await checker.checkIp(`192.0.2.${client}`)).results[0].status;
    return { clock, events, lookup, checker, status };
  }

  test('wrong answers for N names in a row disable the list once; after the period it is asked again and a correct answer re-enables it', async () => {
    const { clock, events, lookup, checker, status } = setup(answer('127.255.255.254'));
    expect([await status(1), await status(2)]).toEqual(['list-error', 'list-error']);
    expect(events).toEqual([]);
    expect(await status(3)).toBe('list-error');
    expect(events).toEqual([
      { kind: 'disabled', name: 'zen', zone: 'zen.test', forMs: 60_000, reason: 'list error answers for 3 names in a row (last 127.255.255.254: the list refuses queries from public/open resolvers)' },
    ]);
    lookup.asked = [];
    clock.now = 59_999;
    expect(await checker.checkIp('192.0.2.4')).toEqual({ score: 0, results: [{ name: 'zen', zone: 'zen.test', status: 'disabled', answers: [], weight: 0 }] });
    expect(lookup.asked).toEqual([]);
    expect(events).toHaveLength(1);

    clock.now = 60_000;
    lookup.answers['5.2.0.192.zen.test'] = answer('127.0.0.2');
    expect((await checker.checkIp('192.0.2.5')).results[0]).toMatchObject({ status: 'listed', weight: 5 });
    expect(events[1]).toEqual({ kind: 're-enabled', name: 'zen', zone: 'zen.test', reason: 'the list answered correctly again' });
    expect(events).toHaveLength(2);
    // Trusted again: one wrong answer is not enough to disable it.
    expect(await status(6)).toBe('list-error');
    expect(await status(7)).toBe('list-error');
    expect(events).toHaveLength(2);
  });

  test('a wrong answer after the pause disables the list for another period, reported again', async () => {
    const { clock, events, status } = setup(answer('198.51.100.7'));
    for (let i = 1; i <= 3; i++) await status(i);
    clock.now = 60_000;
    expect(await status(4)).toBe('rewritten');
    expect(await status(5)).toBe('disabled');
    expect(events.map((e) => e.kind)).toEqual(['disabled', 'disabled']);
    expect(events[1]).toMatchObject({ reason: 'answers outside 127.0.0.0/8 again after its pause (last 198.51.100.7): the resolver rewrites NXDOMAIN; use one that does not' });
  });

  test('the same name answered wrongly again (a busy client, a cached answer) counts once', async () => {
    const { events, lookup, status } = setup(answer('127.255.255.255'));
    for (let i = 0; i < 5; i++) await status(1);
    await status(2);
    expect(lookup.asked).toHaveLength(6);
    expect(events).toEqual([]);
    await status(3);
    expect(events.map((e) => e.kind)).toEqual(['disabled']);
  });

  test('a correct answer resets the count; errors and timeouts neither count nor reset', async () => {
    const { events, lookup, status } = setup(answer('127.255.255.255'));
    lookup.answers['9.2.0.192.zen.test'] = { kind: 'nxdomain' };
    lookup.answers['10.2.0.192.zen.test'] = { kind: 'error', code: 'ESERVFAIL' };
    lookup.answers['11.2.0.192.zen.test'] = { kind: 'timeout' };
    await status(1);
    await status(2);
    expect(await status(9)).toBe('not-listed');
    await status(3);
    expect(await status(10)).toBe('error');
    expect(await status(11)).toBe('timeout');
    await status(4);
    expect(events).toEqual([]);
    await status(5);
    expect(events.map((e) => e.kind)).toEqual(['disabled']);
  });

  test('late wrong answers from queries sent before the disable do not report it again', async () => {
    const { events, lookup, checker } = setup(answer('127.255.255.254'));
    await Promise.all([1, 2, 3, 4, 5].map((i) => checker.checkIp(`192.0.2.${i}`)));
    expect(lookup.asked).toHaveLength(5);
    expect(events).toHaveLength(1);
  });
});
