// CachingResolver against the real test DNS server on loopback: outcomes, timeouts, the cache and sharing.
import { CachingResolver, type DnsSettings } from '../../../src/dns/resolver';
import { startDnsServer, type TestDnsServer } from '../../support/dns-server';

let dns: TestDnsServer;
const resolvers: CachingResolver[] = [];
const clock = { now: 1_000_000 };

function resolver(settings: Partial<DnsSettings> = {}, server = dns): CachingResolver {
  const r = new CachingResolver({ servers: [server.server], timeoutMs: 300, ...settings }, { now: () => clock.now });
  resolvers.push(r);
  return r;
}

beforeEach(async () => {
  dns = await startDnsServer();
});

afterEach(async () => {
  for (const r of resolvers.splice(0)) r.close();
  await dns.close();
});

describe('outcomes from a real server', () => {
  test('an A answer with its TTL, case-insensitively', async () => {
    dns.set('list.test', { a: ['127.0.0.2', '127.0.0.4'], ttl: 120 });
    const outcome = await resolver().a('LIST.test');
    expect(outcome).toEqual({ kind: 'answer', values: expect.arrayContaining(['127.0.0.2', '127.0.0.4']), ttlMs: 120_000 });
    expect(dns.queries).toEqual([{ name: 'list.test', type: 'A' }]);
  });

  test('AAAA and PTR', async () => {
    dns.set('v6.test', { aaaa: ['2001:db8::25'], ttl: 300 });
    dns.setPtr('2001:db8::25', ['mx.example.org']);
    const r = resolver();
    expect(await r.aaaa('v6.test')).toEqual({ kind: 'answer', values: ['2001:db8::25'], ttlMs: 300_000 });
    expect(await r.ptr('2001:db8::25')).toEqual({ kind: 'answer', values: ['mx.example.org'], ttlMs: 30_000 });
    expect(dns.count('5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa', 'PTR')).toBe(1);
  });

  test('NXDOMAIN and NODATA are both nxdomain', async () => {
    dns.set('txt-only.test', { txt: ['v=spf1 -all'] });
    const r = resolver();
    expect(await r.a('missing.test')).toEqual({ kind: 'nxdomain' });
    expect(await r.a('txt-only.test')).toEqual({ kind: 'nxdomain' });
  });

  test('SERVFAIL and REFUSED are errors with their code', async () => {
    dns.set('sf.test', { behaviour: 'servfail' });
    dns.set('rf.test', { behaviour: 'refused' });
    const r = resolver();
    expect(await r.a('sf.test')).toEqual({ kind: 'error', code: 'ESERVFAIL' });
    expect(await r.a('rf.test')).toEqual({ kind: 'error', code: 'EREFUSED' });
  });

  test('a dropped query is a timeout after about timeoutMs', async () => {
    dns.set('drop.test', { behaviour: 'drop' });
    const started = Date.now();
    expect(await resolver({ timeoutMs: 200 }).a('drop.test')).toEqual({ kind: 'timeout' });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(150);
    expect(elapsed).toBeLessThan(1500);
    expect(dns.count('drop.test')).toBe(1);
  });

  test('a slow answer within the timeout is an answer', async () => {
    dns.set('slow.test', { a: ['127.0.0.2'], delayMs: 150 });
    expect(await resolver({ timeoutMs: 1000 }).a('slow.test')).toMatchObject({ kind: 'answer', values: ['127.0.0.2'] });
  });

  test('no server listening is an error, not a hang', async () => {
    const gone = await startDnsServer();
    await gone.close();
    const outcome = await resolver({}, gone).a('x.test');
    expect(['error', 'timeout']).toContain(outcome.kind);
  });

  test('a server given as [::1]:port is used', async () => {
    const v6 = await startDnsServer({ host: '::1' });
    try {
      v6.set('six.test', { a: ['127.0.0.3'] });
      expect(v6.server).toBe(`[::1]:${v6.port}`);
      expect(await resolver({}, v6).a('six.test')).toMatchObject({ kind: 'answer', values: ['127.0.0.3'] });
    } finally {
      await v6.close();
    }
  });
});

describe('the cache in front of a real server', () => {
  test('a second lookup does not reach the server; one after the TTL does', async () => {
    // TTL 0 on the wire: nothing beneath us (c-ares' own query cache, on some Node versions) may keep it.
    dns.set('cached.test', { a: ['127.0.0.2'], ttl: 0 });
    const r = resolver({ minTtlMs: 5000 });
    await r.a('cached.test');
    await r.a('cached.test');
    expect(dns.count('cached.test')).toBe(1);
    clock.now += 5000;
    expect(await r.a('cached.test')).toMatchObject({ kind: 'answer', ttlMs: 5000 });
    expect(dns.count('cached.test')).toBe(2);
  });

  test('NXDOMAIN is cached for negativeTtl, SERVFAIL not at all', async () => {
    dns.set('sf.test', { behaviour: 'servfail' });
    const r = resolver({ negativeTtlMs: 10_000 });
    await r.a('nx.test');
    await r.a('nx.test');
    await r.a('sf.test');
    await r.a('sf.test');
    expect(dns.count('nx.test')).toBe(1);
    expect(dns.count('sf.test')).toBe(2);
    clock.now += 10_000;
    await r.a('nx.test');
    expect(dns.count('nx.test')).toBe(2);
  });

  test('concurrent lookups of one name send one query', async () => {
    dns.set('shared.test', { a: ['127.0.0.2'], delayMs: 100 });
    const r = resolver();
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => r.a('shared.test')));
    expect(outcomes.every((o) => o.kind === 'answer')).toBe(true);
    expect(dns.count('shared.test')).toBe(1);
  });

  test('close() ends an outstanding query at once', async () => {
    dns.set('drop.test', { behaviour: 'drop' });
    const r = resolver({ timeoutMs: 5000 });
    const started = Date.now();
    const pending = r.a('drop.test');
    setTimeout(() => r.close(), 50);
    expect(await pending).toEqual({ kind: 'error', code: 'ECANCELLED' });
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
