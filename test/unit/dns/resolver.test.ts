// CachingResolver over a scripted backend: outcome mapping, TTL clamping, negative caching, LRU, sharing.
import { CachingResolver, DEFAULT_DNS_SETTINGS, type DnsBackend } from '../../../src/dns/resolver';

type Script = Record<string, Array<{ address: string; ttl: number }> | string[] | { code: string } | 'hang'>;

/** Answers from a script keyed `TYPE name`; an entry `{ code }` rejects like c-ares does. */
class FakeBackend implements DnsBackend {
  calls: string[] = [];
  private readonly hanging: Array<(error: Error) => void> = [];
  constructor(public script: Script) {}
  resolve4(name: string): Promise<Array<{ address: string; ttl: number }>> {
    return this.answer(`A ${name}`) as Promise<Array<{ address: string; ttl: number }>>;
  }
  resolve6(name: string): Promise<Array<{ address: string; ttl: number }>> {
    return this.answer(`AAAA ${name}`) as Promise<Array<{ address: string; ttl: number }>>;
  }
  resolvePtr(name: string): Promise<string[]> {
    return this.answer(`PTR ${name}`) as Promise<string[]>;
  }
  getServers(): string[] {
    return ['127.0.0.1'];
  }
  setServers(): void {}
  cancel(): void {
    for (const reject of this.hanging.splice(0)) reject(Object.assign(new Error('cancelled'), { code: 'ECANCELLED' }));
  }
  private answer(key: string): Promise<unknown> {
    this.calls.push(key);
    const entry = this.script[key] ?? { code: 'ENOTFOUND' };
    if (entry === 'hang') return new Promise((_, reject) => this.hanging.push(reject));
    if ('code' in entry) return Promise.reject(Object.assign(new Error(entry.code), { code: entry.code }));
    return Promise.resolve(entry);
  }
}

function setup(script: Script, settings: Partial<typeof DEFAULT_DNS_SETTINGS> = {}) {
  const clock = { now: 1_000_000 };
  const backend = new FakeBackend(script);
  const resolver = new CachingResolver(settings, { backend, now: () => clock.now });
  return { clock, backend, resolver };
}

test('defaults are the documented ones', () => {
  expect(DEFAULT_DNS_SETTINGS).toEqual({ timeoutMs: 2000, tries: 1, cacheSize: 50_000, minTtlMs: 30_000, maxTtlMs: 3_600_000, negativeTtlMs: 300_000 });
  expect(Object.isFrozen(DEFAULT_DNS_SETTINGS)).toBe(true);
});

describe('outcomes', () => {
  test.each([
    ['ENOTFOUND', { kind: 'nxdomain' }],
    ['ENODATA', { kind: 'nxdomain' }],
    ['ETIMEOUT', { kind: 'timeout' }],
    ['ESERVFAIL', { kind: 'error', code: 'ESERVFAIL' }],
    ['EREFUSED', { kind: 'error', code: 'EREFUSED' }],
    ['ECONNREFUSED', { kind: 'error', code: 'ECONNREFUSED' }],
  ])('%s -> %j', async (code, outcome) => {
    const { resolver } = setup({ 'A x.test': { code } });
    await expect(resolver.a('x.test')).resolves.toEqual(outcome);
  });

  test('an answer carries the smallest TTL of its records', async () => {
    const { resolver } = setup({ 'A x.test': [{ address: '127.0.0.2', ttl: 600 }, { address: '127.0.0.4', ttl: 120 }] });
    await expect(resolver.a('x.test')).resolves.toEqual({ kind: 'answer', values: ['127.0.0.2', '127.0.0.4'], ttlMs: 120_000 });
  });

  test('a backend that throws synchronously still yields an outcome', async () => {
    const { backend, resolver } = setup({});
    backend.resolve4 = () => {
      throw new TypeError('boom');
    };
    await expect(resolver.a('x.test')).resolves.toEqual({ kind: 'error', code: 'EUNKNOWN' });
  });

  test('ptr asks for the reversed name; a non-address is not asked', async () => {
    const { backend, resolver } = setup({ 'PTR 1.2.0.192.in-addr.arpa': ['mail.example.org'] });
    await expect(resolver.ptr('::ffff:192.0.2.1')).resolves.toEqual({ kind: 'answer', values: ['mail.example.org'], ttlMs: 30_000 });
    await expect(resolver.ptr('not an ip')).resolves.toEqual({ kind: 'error', code: 'EBADNAME' });
    expect(backend.calls).toEqual(['PTR 1.2.0.192.in-addr.arpa']);
  });
});

describe('cache', () => {
  test('TTLs are clamped to [minTtl, maxTtl]', async () => {
    const { resolver } = setup({
      'A short.test': [{ address: '127.0.0.2', ttl: 1 }],
      'A long.test': [{ address: '127.0.0.2', ttl: 604_800 }],
      'AAAA mid.test': [{ address: '2001:db8::1', ttl: 90 }],
    });
    expect(await resolver.a('short.test')).toMatchObject({ ttlMs: 30_000 });
    expect(await resolver.a('long.test')).toMatchObject({ ttlMs: 3_600_000 });
    expect(await resolver.aaaa('mid.test')).toMatchObject({ ttlMs: 90_000 });
  });

  test('an answer is served from the cache until its clamped TTL has passed', async () => {
    const { clock, backend, resolver } = setup({ 'A x.test': [{ address: '127.0.0.2', ttl: 1 }] });
    await resolver.a('x.test');
    clock.now += 29_999;
    expect(await resolver.a('X.Test.')).toEqual({ kind: 'answer', values: ['127.0.0.2'], ttlMs: 1 });
    expect(backend.calls).toHaveLength(1);
    clock.now += 1;
    await resolver.a('x.test');
    expect(backend.calls).toHaveLength(2);
  });

  test('NXDOMAIN and NODATA are cached for negativeTtl', async () => {
    const { clock, backend, resolver } = setup({ 'A nodata.test': { code: 'ENODATA' } }, { negativeTtlMs: 60_000 });
    await resolver.a('nx.test');
    await resolver.a('nodata.test');
    clock.now += 59_999;
    expect(await resolver.a('nx.test')).toEqual({ kind: 'nxdomain' });
    expect(await resolver.a('nodata.test')).toEqual({ kind: 'nxdomain' });
    expect(backend.calls).toEqual(['A nx.test', 'A nodata.test']);
    clock.now += 1;
    await resolver.a('nx.test');
    expect(backend.calls).toEqual(['A nx.test', 'A nodata.test', 'A nx.test']);
  });

  test('errors and timeouts are not cached', async () => {
    const { backend, resolver } = setup({ 'A sf.test': { code: 'ESERVFAIL' }, 'A slow.test': { code: 'ETIMEOUT' } });
    await resolver.a('sf.test');
    await resolver.a('sf.test');
    await resolver.a('slow.test');
    await resolver.a('slow.test');
    expect(backend.calls).toEqual(['A sf.test', 'A sf.test', 'A slow.test', 'A slow.test']);
    expect(resolver.cachedCount).toBe(0);
  });

  test('A and AAAA of one name are cached apart', async () => {
    const { backend, resolver } = setup({ 'A x.test': [{ address: '192.0.2.1', ttl: 300 }], 'AAAA x.test': [{ address: '2001:db8::1', ttl: 300 }] });
    expect(await resolver.a('x.test')).toMatchObject({ values: ['192.0.2.1'] });
    expect(await resolver.aaaa('x.test')).toMatchObject({ values: ['2001:db8::1'] });
    expect(backend.calls).toEqual(['A x.test', 'AAAA x.test']);
  });

  test('the cache holds at most cacheSize entries, dropping the least recently used', async () => {
    const script: Script = {};
    for (const n of ['a', 'b', 'c', 'd']) script[`A ${n}.test`] = [{ address: '127.0.0.2', ttl: 300 }];
    const { backend, resolver } = setup(script, { cacheSize: 3 });
    for (const n of ['a', 'b', 'c']) await resolver.a(`${n}.test`);
    await resolver.a('a.test'); // a is now the most recently used
    await resolver.a('d.test'); // evicts b
    expect(resolver.cachedCount).toBe(3);
    backend.calls = [];
    for (const n of ['a', 'c', 'd', 'b']) await resolver.a(`${n}.test`);
    expect(backend.calls).toEqual(['A b.test']);
  });

  test('cacheSize 0 caches nothing', async () => {
    const { backend, resolver } = setup({ 'A x.test': [{ address: '127.0.0.2', ttl: 300 }] }, { cacheSize: 0 });
    await resolver.a('x.test');
    await resolver.a('x.test');
    expect(backend.calls).toHaveLength(2);
  });
});

describe('sharing and shutdown', () => {
  test('concurrent identical lookups share one query', async () => {
    const { backend, resolver } = setup({ 'A x.test': [{ address: '127.0.0.2', ttl: 300 }] });
    const outcomes = await Promise.all([resolver.a('x.test'), resolver.a('X.TEST'), resolver.a('x.test.')]);
    expect(backend.calls).toEqual(['A x.test']);
    expect(outcomes.map((o) => o.kind)).toEqual(['answer', 'answer', 'answer']);
  });

  test('cancel ends outstanding queries as ECANCELLED, and they are not cached', async () => {
    const { backend, resolver } = setup({ 'A hang.test': 'hang' });
    const pending = [resolver.a('hang.test'), resolver.a('hang.test')];
    resolver.cancel();
    expect(await Promise.all(pending)).toEqual([
      { kind: 'error', code: 'ECANCELLED' },
      { kind: 'error', code: 'ECANCELLED' },
    ]);
    resolver.a('hang.test');
    expect(backend.calls).toEqual(['A hang.test', 'A hang.test']);
    resolver.cancel();
  });

  test('after close, lookups answer ECANCELLED without asking', async () => {
    const { backend, resolver } = setup({ 'A x.test': [{ address: '127.0.0.2', ttl: 300 }], 'A hang.test': 'hang' });
    await resolver.a('x.test');
    const pending = resolver.a('hang.test');
    resolver.close();
    await expect(pending).resolves.toEqual({ kind: 'error', code: 'ECANCELLED' });
    await expect(resolver.a('x.test')).resolves.toEqual({ kind: 'error', code: 'ECANCELLED' });
    expect(backend.calls).toEqual(['A x.test', 'A hang.test']);
  });

  test('a query the backend never ends is reported as a timeout by the guard, and frees its name', async () => {
    jest.useFakeTimers();
    try {
      const { backend, resolver } = setup({ 'A hang.test': 'hang' }, { timeoutMs: 500, tries: 1 });
      const pending = resolver.a('hang.test');
      // Guard: 500 ms x 1 try x 2^1 x 1 server + 1 s slack.
      await jest.advanceTimersByTimeAsync(1999);
      expect(await Promise.race([pending, Promise.resolve('still waiting')])).toBe('still waiting');
      await jest.advanceTimersByTimeAsync(1);
      await expect(pending).resolves.toEqual({ kind: 'timeout' });
      resolver.a('hang.test');
      expect(backend.calls).toEqual(['A hang.test', 'A hang.test']);
      resolver.cancel();
    } finally {
      jest.useRealTimers();
    }
  });
});
