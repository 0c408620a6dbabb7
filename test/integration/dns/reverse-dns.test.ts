// Reverse DNS checks with a real CachingResolver against the test DNS server.
import { CachingResolver } from '../../../src/dns/resolver';
import { checkReverseDns, DEFAULT_DYNAMIC_PTR_PATTERNS } from '../../../src/dns/reverse-dns';
import { compilePattern, type TextPattern } from '../../../src/rules/pattern';
import { startDnsServer, type TestDnsServer } from '../../support/dns-server';

const PATTERNS = DEFAULT_DYNAMIC_PTR_PATTERNS.map((source) => compilePattern(source) as TextPattern);

let dns: TestDnsServer;
let resolver: CachingResolver;

beforeEach(async () => {
  dns = await startDnsServer();
  resolver = new CachingResolver({ servers: [dns.server], timeoutMs: 300 });
});

afterEach(async () => {
  resolver.close();
  await dns.close();
});

test('no PTR record: none', async () => {
  expect(await checkReverseDns(resolver, '192.0.2.1', PATTERNS)).toEqual({ status: 'none', names: [] });
  expect(dns.queries).toEqual([{ name: '1.2.0.192.in-addr.arpa', type: 'PTR' }]);
});

test('FCrDNS passes: verified', async () => {
  dns.setPtr('192.0.2.1', ['Mail.Example.ORG']);
  dns.set('mail.example.org', { a: ['192.0.2.1'] });
  expect(await checkReverseDns(resolver, '192.0.2.1', PATTERNS)).toEqual({ status: 'verified', names: ['mail.example.org'], verifiedName: 'mail.example.org' });
  expect(dns.queries).toEqual([
    { name: '1.2.0.192.in-addr.arpa', type: 'PTR' },
    { name: 'mail.example.org', type: 'A' },
  ]);
});

test('FCrDNS passes for IPv6 through AAAA', async () => {
  dns.setPtr('2001:db8::25', ['mx.example.org']);
  dns.set('mx.example.org', { a: ['192.0.2.25'], aaaa: ['2001:db8:0:0:0:0:0:25'] });
  expect(await checkReverseDns(resolver, '2001:db8::25', PATTERNS)).toMatchObject({ status: 'verified', verifiedName: 'mx.example.org' });
  expect(dns.count('mx.example.org', 'AAAA')).toBe(1);
  expect(dns.count('mx.example.org', 'A')).toBe(0);
});

test('FCrDNS fails: the name points elsewhere, or nowhere', async () => {
  dns.setPtr('192.0.2.1', ['forged.example.org', 'gone.example.org']);
  dns.set('forged.example.org', { a: ['198.51.100.7'] });
  expect(await checkReverseDns(resolver, '192.0.2.1', PATTERNS)).toEqual({ status: 'unverified', names: ['forged.example.org', 'gone.example.org'] });
});

test('a verified generic name: dynamic', async () => {
  const name = 'dsl-192-0-2-1.dyn.example.net';
  dns.setPtr('192.0.2.1', [name]);
  dns.set(name, { a: ['192.0.2.1'] });
  expect(await checkReverseDns(resolver, '192.0.2.1', PATTERNS)).toEqual({ status: 'dynamic', names: [name], verifiedName: name });
});

test('a PTR lookup that times out: unknown, by the deadline', async () => {
  dns.set('1.2.0.192.in-addr.arpa', { behaviour: 'drop' });
  const started = Date.now();
  expect(await checkReverseDns(resolver, '192.0.2.1', PATTERNS, 150)).toEqual({ status: 'unknown', names: [] });
  expect(Date.now() - started).toBeLessThan(1000);
  // Without a deadline the resolver's own timeout ends it the same way.
  expect(await checkReverseDns(resolver, '192.0.2.1', PATTERNS)).toEqual({ status: 'unknown', names: [] });
});

test('a PTR lookup that fails with SERVFAIL: unknown', async () => {
  dns.set('1.2.0.192.in-addr.arpa', { behaviour: 'servfail' });
  expect(await checkReverseDns(resolver, '192.0.2.1', PATTERNS)).toEqual({ status: 'unknown', names: [] });
});

test('a forward lookup that times out without another name verifying: unknown', async () => {
  dns.setPtr('192.0.2.1', ['slow.example.org']);
  dns.set('slow.example.org', { behaviour: 'drop' });
  expect(await checkReverseDns(resolver, '192.0.2.1', PATTERNS)).toEqual({ status: 'unknown', names: ['slow.example.org'] });
});
