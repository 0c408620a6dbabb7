// FCrDNS statuses over a scripted lookup, and the shipped dynamic-name patterns on real-world names.
import { checkReverseDns, DEFAULT_DYNAMIC_PTR_PATTERNS, MAX_FORWARD_LOOKUPS } from '../../../src/dns/reverse-dns';
import type { DnsLookup, DnsOutcome } from '../../../src/dns/resolver';
import { compilePattern } from '../../../src/rules/pattern';

type Outcome = DnsOutcome<string[]>;

const PATTERNS = DEFAULT_DYNAMIC_PTR_PATTERNS.map((source) => {
  const pattern = compilePattern(source);
  if (typeof pattern === 'string') throw new Error(pattern);
  return pattern;
});
const isDynamic = (name: string) => PATTERNS.some((p) => p.test(name));

describe('DEFAULT_DYNAMIC_PTR_PATTERNS', () => {
  test.each([
    'adsl-75-18-220-94.dsl.sfldmi.sbcglobal.net',
    'c-24-5-6-7.hsd1.ca.comcast.net',
    'pool-71-181-12-3.bstnma.fios.verizon.net',
    'ppp-94-66-1-2.home.otenet.gr',
    'host86-123-45-67.range86-123.btcentralplus.com',
    'cpe-74-72-1-2.nyc.res.rr.com',
    'dhcp-089-099-123-111.chello.nl',
    'ip-178-203-1-2.unitymediagroup.de',
    'p5b0d1234.dip0.t-ipconnect.de',
    '99-1-2-3.lightspeed.tx.bellsouth.net',
    'user-0c8h1ab.cable.mindspring.com',
    'customer-201-123-45-67.uninet-ide.com.mx',
    'bb116-15-12.singnet.com.sg',
    'xdsl-188-155-1-2.adslplus.ch',
    'dynamic-acs-24-112-1-2.zoominternet.net',
    'static-1-2-3-4.isp.example.net',
    'ec2-54-1-2-3.compute-1.amazonaws.com',
    '1.2.3.4.broadband.example.net',
    'client-200-23.example.net',
    'DYN.Provider.Example.NET',
    'dialup12.pop.example.net',
  ])('%s is dynamic', (name) => {
    expect(isDynamic(name)).toBe(true);
  });

  test.each([
    'mail.dynamics-corp.com',
    'mail.dslreports.com',
    'mail-ed1-f41.google.com',
    'mail-db8eur05on2100.outbound.protection.outlook.com',
    'a27-40.smtp-out.amazonses.com',
    'o1.ptr1234.sendgrid.net',
    'sonic301-20.consmr.mail.ne1.yahoo.com',
    'mail181-1.suw21.mandrillapp.com',
    'smtp.cable.com',
    'mx.pool.example',
    'mail.poolside.com',
    'mail.hostpoint.ch',
    'mx1.dhcpsoft.com',
    'static.example.com',
    'mail.customer-service.com',
    'smtp.client.net',
    'mx.cablelabs.com',
    'host2.example.com',
    'mx1.ppp.example',
    'mail.example.org',
  ])('%s is not dynamic', (name) => {
    expect(isDynamic(name)).toBe(false);
  });
});

/** PTR, A and AAAA answers from tables; unknown names are NXDOMAIN; 'hang' never answers. */
class ScriptedLookup implements DnsLookup {
  asked: string[] = [];
  constructor(private readonly answers: Record<string, Outcome | 'hang'>) {}
  a(name: string): Promise<Outcome> {
    return this.answer(`A ${name}`);
  }
  aaaa(name: string): Promise<Outcome> {
    return this.answer(`AAAA ${name}`);
  }
  ptr(ip: string): Promise<Outcome> {
    return this.answer(`PTR ${ip}`);
  }
  private answer(key: string): Promise<Outcome> {
    this.asked.push(key);
    const entry = this.answers[key] ?? { kind: 'nxdomain' };
    return entry === 'hang' ? new Promise(() => undefined) : Promise.resolve(entry);
  }
}

const answer = (...values: string[]): Outcome => ({ kind: 'answer', values, ttlMs: 60_000 });

describe('checkReverseDns', () => {
  test('no PTR is none', async () => {
    expect(await checkReverseDns(new ScriptedLookup({}), '192.0.2.1', PATTERNS)).toEqual({ status: 'none', names: [] });
  });

  test.each([{ kind: 'error', code: 'ESERVFAIL' } as const, { kind: 'timeout' } as const])('a PTR lookup that fails (%j) is unknown, never none', async (failure) => {
    expect(await checkReverseDns(new ScriptedLookup({ 'PTR 192.0.2.1': failure }), '192.0.2.1', PATTERNS)).toEqual({ status: 'unknown', names: [] });
  });

  test('a name that resolves back is verified; names are lower case without the dot', async () => {
    const lookup = new ScriptedLookup({ 'PTR 192.0.2.1': answer('Mail.Example.ORG.'), 'A mail.example.org': answer('192.0.2.9', '192.0.2.1') });
    expect(await checkReverseDns(lookup, '::ffff:192.0.2.1', PATTERNS)).toEqual({ status: 'verified', names: ['mail.example.org'], verifiedName: 'mail.example.org' });
    expect(lookup.asked).toEqual(['PTR 192.0.2.1', 'A mail.example.org']);
  });

  test('IPv6 is checked with AAAA, comparing canonical addresses', async () => {
    const lookup = new ScriptedLookup({ 'PTR 2001:db8::25': answer('mx.example.org'), 'AAAA mx.example.org': answer('2001:DB8:0:0::25') });
    expect(await checkReverseDns(lookup, '2001:db8:0::25', PATTERNS)).toMatchObject({ status: 'verified', verifiedName: 'mx.example.org' });
    expect(lookup.asked).toEqual(['PTR 2001:db8::25', 'AAAA mx.example.org']);
  });

  test('a name that does not resolve back is unverified', async () => {
    const lookup = new ScriptedLookup({ 'PTR 192.0.2.1': answer('mail.example.org', 'other.example.org'), 'A mail.example.org': answer('192.0.2.2') });
    expect(await checkReverseDns(lookup, '192.0.2.1', PATTERNS)).toEqual({ status: 'unverified', names: ['mail.example.org', 'other.example.org'] });
  });

  test('when no name verifies and a forward lookup failed, the status is unknown (not unverified)', async () => {
    const lookup = new ScriptedLookup({ 'PTR 192.0.2.1': answer('a.example.org', 'b.example.org'), 'A b.example.org': { kind: 'timeout' } });
    expect(await checkReverseDns(lookup, '192.0.2.1', PATTERNS)).toEqual({ status: 'unknown', names: ['a.example.org', 'b.example.org'] });
  });

  test('one verified name is enough even if another lookup failed; the first such name in PTR order is reported', async () => {
    const lookup = new ScriptedLookup({
      'PTR 192.0.2.1': answer('a.example.org', 'b.example.org', 'c.example.org'),
      'A a.example.org': { kind: 'error', code: 'ESERVFAIL' },
      'A b.example.org': answer('192.0.2.1'),
      'A c.example.org': answer('192.0.2.1'),
    });
    expect(await checkReverseDns(lookup, '192.0.2.1', PATTERNS)).toMatchObject({ status: 'verified', verifiedName: 'b.example.org' });
  });

  test('a verified generic name is dynamic', async () => {
    const lookup = new ScriptedLookup({ 'PTR 192.0.2.1': answer('dsl-192-0-2-1.pool.example.net'), 'A dsl-192-0-2-1.pool.example.net': answer('192.0.2.1') });
    expect(await checkReverseDns(lookup, '192.0.2.1', PATTERNS)).toEqual({ status: 'dynamic', names: ['dsl-192-0-2-1.pool.example.net'], verifiedName: 'dsl-192-0-2-1.pool.example.net' });
    expect((await checkReverseDns(lookup, '192.0.2.1', [])).status).toBe('verified');
  });

  test(`at most ${MAX_FORWARD_LOOKUPS} names are looked up forward, duplicates once, junk names never`, async () => {
    const names = ['a.example', 'A.example.', 'not a name', '192.0.2.1', 'b.example', 'c.example', 'd.example', 'e.example'];
    const lookup = new ScriptedLookup({ 'PTR 192.0.2.1': answer(...names), 'A e.example': answer('192.0.2.1') });
    const report = await checkReverseDns(lookup, '192.0.2.1', PATTERNS);
    expect(report.status).toBe('unverified');
    expect(lookup.asked).toEqual(['PTR 192.0.2.1', 'A a.example', 'A b.example', 'A c.example', 'A d.example']);
  });

  test('the deadline cuts a hanging check short as unknown, keeping the PTR names found', async () => {
    const hangingPtr = new ScriptedLookup({ 'PTR 192.0.2.1': 'hang' });
    expect(await checkReverseDns(hangingPtr, '192.0.2.1', PATTERNS, 30)).toEqual({ status: 'unknown', names: [] });
    const hangingA = new ScriptedLookup({ 'PTR 192.0.2.1': answer('mail.example.org'), 'A mail.example.org': 'hang' });
    expect(await checkReverseDns(hangingA, '192.0.2.1', PATTERNS, 30)).toEqual({ status: 'unknown', names: ['mail.example.org'] });
  });

  test('something that is not an address is unknown, with no query', async () => {
    const lookup = new ScriptedLookup({});
    expect(await checkReverseDns(lookup, 'localhost', PATTERNS)).toEqual({ status: 'unknown', names: [] });
    expect(lookup.asked).toEqual([]);
  });
});
