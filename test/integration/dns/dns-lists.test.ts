// DnsListChecker with a real CachingResolver against the test DNS server: listings, bad answers, deadlines.
import { parseAnswerFilter, type AnswerFilter } from '../../../src/net/answer-filter';
import { DnsListChecker, type DnsListEvent, type DnsListSpec } from '../../../src/dns/dns-lists';
import { CachingResolver } from '../../../src/dns/resolver';
import { startDnsServer, type TestDnsServer } from '../../support/dns-server';

let dns: TestDnsServer;
let resolver: CachingResolver;
let events: DnsListEvent[];

function filters(...texts: string[]): AnswerFilter[] {
  return texts.map((text) => {
    const f = parseAnswerFilter(text);
    if (typeof f === 'string') throw new Error(f);
    return f;
  });
}

function checker(...lists: DnsListSpec[]): DnsListChecker {
  return new DnsListChecker(resolver, lists, (e) => events.push(e));
}

const BL: DnsListSpec = { name: 'bl', zone: 'bl.test', filters: [], weight: 5 };
const CLIENT = '192.0.2.10';
const Q = '10.2.0.192';

beforeEach(async () => {
  dns = await startDnsServer();
  resolver = new CachingResolver({ servers: [dns.server], timeoutMs: 300 });
  events = [];
});

afterEach(async () => {
  resolver.close();
  await dns.close();
});

test('a listed client', async () => {
  dns.set(`${Q}.bl.test`, { a: ['127.0.0.2'] });
  expect(await checker(BL).checkIp(CLIENT)).toEqual({ score: 5, results: [{ name: 'bl', zone: 'bl.test', status: 'listed', answers: ['127.0.0.2'], weight: 5 }] });
  expect(dns.queries).toEqual([{ name: `${Q}.bl.test`, type: 'A' }]);
});

test('an unlisted client (NXDOMAIN)', async () => {
  expect(await checker(BL).checkIp(CLIENT)).toEqual({ score: 0, results: [{ name: 'bl', zone: 'bl.test', status: 'not-listed', answers: [], weight: 0 }] });
  expect(dns.count(`${Q}.bl.test`)).toBe(1);
});

test('the Spamhaus error code 127.255.255.254 is a list error, even beside a listing code', async () => {
  dns.set(`${Q}.bl.test`, { a: ['127.0.0.2', '127.255.255.254'] });
  const report = await checker(BL).checkIp(CLIENT);
  expect(report.score).toBe(0);
  expect(report.results[0]).toMatchObject({ status: 'list-error', weight: 0 });
  expect(report.results[0].answers).toEqual(expect.arrayContaining(['127.0.0.2', '127.255.255.254']));
});

test('an answer outside 127/8 is a rewritten NXDOMAIN, never a listing', async () => {
  dns.set(`${Q}.bl.test`, { a: ['198.51.100.7'] });
  expect((await checker(BL).checkIp(CLIENT)).results[0]).toEqual({ name: 'bl', zone: 'bl.test', status: 'rewritten', answers: ['198.51.100.7'], weight: 0 });
});

test('a code the filter does not accept is not-listed', async () => {
  dns.set(`${Q}.bl.test`, { a: ['127.0.0.10'] });
  const report = await checker({ ...BL, filters: filters('127.0.0.[2..3]', '127.0.0.4') }).checkIp(CLIENT);
  expect(report).toMatchObject({ score: 0, results: [{ status: 'not-listed', answers: ['127.0.0.10'] }] });
});

test('a slow answer within the deadline counts', async () => {
  dns.set(`${Q}.bl.test`, { a: ['127.0.0.2'], delayMs: 150 });
  resolver.close();
  resolver = new CachingResolver({ servers: [dns.server], timeoutMs: 1000 });
  expect((await checker(BL).checkIp(CLIENT, 800)).results[0].status).toBe('listed');
});

test('a list that never answers is a timeout at the deadline, while the others are reported', async () => {
  dns.set(`${Q}.dead.test`, { behaviour: 'drop' });
  dns.set(`${Q}.bl.test`, { a: ['127.0.0.2'] });
  resolver.close();
  resolver = new CachingResolver({ servers: [dns.server], timeoutMs: 5000 });
  const started = Date.now();
  const report = await checker({ ...BL, name: 'dead', zone: 'dead.test' }, BL).checkIp(CLIENT, 200);
  const elapsed = Date.now() - started;
  expect(elapsed).toBeGreaterThanOrEqual(190);
  expect(elapsed).toBeLessThan(1000);
  expect(report).toMatchObject({ score: 5, results: [{ name: 'dead', status: 'timeout', weight: 0 }, { name: 'bl', status: 'listed' }] });
});

test('without a deadline, the resolver timeout still ends a dropped query', async () => {
  dns.set(`${Q}.bl.test`, { behaviour: 'drop' });
  expect((await checker(BL).checkIp(CLIENT)).results[0].status).toBe('timeout');
});

test('SERVFAIL is an error', async () => {
  dns.set(`${Q}.bl.test`, { behaviour: 'servfail' });
  expect((await checker(BL).checkIp(CLIENT)).results[0]).toMatchObject({ status: 'error', weight: 0 });
});

test('several lists are asked in parallel and their weights sum, an allow-list subtracting', async () => {
  for (const zone of ['a.test', 'b.test', 'wl.test', 'c.test']) dns.set(`${Q}.${zone}`, { a: zone === 'wl.test' ? ['127.0.10.2'] : ['127.0.0.2'], delayMs: 150 });
  const lists: DnsListSpec[] = [
    { name: 'a', zone: 'a.test', filters: [], weight: 3 },
    { name: 'b', zone: 'b.test', filters: [], weight: 1.5 },
    { name: 'wl', zone: 'wl.test', filters: filters('127.0.[0..255].[2..3]'), weight: -4 },
    { name: 'c', zone: 'c.test', filters: filters('127.0.0.3'), weight: 10 },
  ];
  resolver.close();
  resolver = new CachingResolver({ servers: [dns.server], timeoutMs: 2000 });
  const started = Date.now();
  const report = await checker(...lists).checkIp(CLIENT);
  // Four answers each 150 ms late: in series this would take 600 ms.
  expect(Date.now() - started).toBeLessThan(450);
  expect(report.score).toBe(0.5);
  expect(report.results.map((r) => [r.name, r.status, r.weight])).toEqual([
    ['a', 'listed', 3],
    ['b', 'listed', 1.5],
    ['wl', 'listed', -4],
    ['c', 'not-listed', 0],
  ]);
});

test('an IPv6 client is asked about in nibble form', async () => {
  const name = '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test';
  dns.set(name, { a: ['127.0.0.2'] });
  expect((await checker(BL).checkIp('2001:db8::1')).score).toBe(5);
  expect(dns.queries).toEqual([{ name, type: 'A' }]);
});

test('RHSBL: a domain is asked about as domain.zone; an address literal is not asked about', async () => {
  const rhs: DnsListSpec = { name: 'dbl', zone: 'dbl.test', filters: filters('127.0.1.[2..99]'), weight: 4 };
  dns.set('spammer.example.dbl.test', { a: ['127.0.1.2'] });
  const lists = checker(rhs);
  expect(await lists.checkDomain('Spammer.Example')).toMatchObject({ score: 4, results: [{ status: 'listed', answers: ['127.0.1.2'] }] });
  expect(await lists.checkDomain('clean.example')).toMatchObject({ score: 0, results: [{ status: 'not-listed' }] });
  expect(await lists.checkDomain('[192.0.2.1]')).toEqual({ score: 0, results: [] });
  expect(dns.queries.map((q) => q.name)).toEqual(['spammer.example.dbl.test', 'clean.example.dbl.test']);
});

test('a list answering with error codes is disabled after five answers and reported once', async () => {
  for (let i = 1; i <= 7; i++) dns.set(`${i}.2.0.192.bl.test`, { a: ['127.255.255.255'] });
  const lists = checker(BL);
  const statuses: string[] = [];
  for (let i = 1; i <= 7; i++) statuses.push((await lists.checkIp(`192.0.2.${i}`)).results[0].status);
  expect(statuses).toEqual(['list-error', 'list-error', 'list-error', 'list-error', 'list-error', 'disabled', 'disabled']);
  expect(dns.queries).toHaveLength(5);
  expect(events).toEqual([{ kind: 'disabled', name: 'bl', zone: 'bl.test', forMs: 600_000, reason: 'list error answers for 5 names in a row (last 127.255.255.255: excessive number of queries)' }]);
});
