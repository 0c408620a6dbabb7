// The scoring handler with real DNS answers: lookups start at CONNECT, each event waits only for
// what its rules read, allow-listed clients skip DNS, a dead list never holds a session past the deadline.
import { CachingResolver } from '../../../src/dns/resolver';
import { scoringHandler } from '../../../src/handler/scoring-handler';
import { ScoringEngine } from '../../../src/engine/scoring-engine';
import { ReputationChecks } from '../../../src/reputation/reputation-checks';
import { parseRuleSet } from '../../../src/rules/loader';
import type { RuleSet } from '../../../src/rules/rule-set';
import type { MilterHandler, SessionContext, Verdict } from '../../../src/session/handler';
import { MemoryStore } from '../../../src/store/memory-store';
import { startDnsServer, type TestDnsServer } from '../../support/dns-server';
import { captureLog, type LogLine } from '../../support/log-capture';

const RULES = `
keys:
  ip: { half_life: 1h }
lists:
  trusted: { cidr: ["198.51.100.0/24"] }
dnsbl:
  one: { zone: one.test, answers: ["127.0.0.[2..11]"], weight: 3 }
  two: { zone: two.test, weight: 3 }
  white: { zone: white.test, answers: ["127.0.[0..255].[1..3]"], weight: -4 }
rhsbl:
  dbl: { zone: dbl.test, weight: 2 }
  dbl2: { zone: dbl2.test, weight: 1 }
rules:
  - name: trusted
    on: rcpt
    when: { client_ip: { list: trusted } }
    ok: true
  - name: blocklisted
    on: rcpt
    when: { dnsbl: { above: 4 } }
    reject: { code: 554, ext: "5.7.1", text: "Listed" }
  - name: listed-domains
    on: mail
    when: { rhsbl: { above: 2 } }
    tempfail: { code: 451, ext: "4.7.1", text: "Domain listed" }
  - name: count-lists
    on: rcpt
    add: { ip: dnsbl }
  - name: no-ptr
    on: helo
    when: { reverse_dns: none }
    delay: 1ms
thresholds:
  ip:
    - above: 100
      reject: true
`;

let dns: TestDnsServer;
let resolver: CachingResolver;
let logLines: LogLine[];

function reversed(ip: string): string {
  return ip.split('.').reverse().join('.');
}

function handlerFor(ruleSet: RuleSet, deadlineMs = 1000): MilterHandler {
  const log = captureLog();
  logLines = log.lines;
  const reputation = new ReputationChecks({ settings: ruleSet.reputation, resolver, deadlineMs, onListEvent: () => undefined });
  return scoringHandler({ engine: new ScoringEngine(ruleSet, new MemoryStore()), logger: log.logger, onStoreError: 'accept', reputation });
}

function session(ip: string, sender = 'a@clean.example'): SessionContext {
  return {
    connectionId: `c-${ip}`,
    mta: 'postfix',
    connectedAt: undefined,
    connect: { hostname: `[${ip}]`, family: 'inet', address: ip, port: 1 },
    helo: 'pc.helo.example',
    message: { index: 1, sender: `<${sender}>`, senderArgs: [], recipients: [], headerCount: 0, bodyBytes: 0 },
    macro: () => undefined,
  };
}

async function run(handler: MilterHandler, ctx: SessionContext): Promise<{ mail: Verdict; rcpt: Verdict }> {
  await handler.connect?.(ctx);
  await handler.helo?.(ctx, ctx.helo!);
  const mail = await handler.mail!(ctx, ctx.message!.sender, []);
  const rcpt = await handler.rcpt!(ctx, '<x@example.com>', []);
  return { mail, rcpt };
}

beforeAll(async () => {
  dns = await startDnsServer();
  resolver = new CachingResolver({ servers: [dns.server], timeoutMs: 2000 });
});

afterAll(async () => {
  resolver.close();
  await dns.close();
});

test('weights of the lists that list the client add up; a DNSWL weight subtracts', async () => {
  const ruleSet = parseRuleSet(RULES, 'rules.yml');
  dns.set(`${reversed('192.0.2.1')}.one.test`, { a: ['127.0.0.2'] });
  dns.set(`${reversed('192.0.2.1')}.two.test`, { a: ['127.0.0.9'] });
  dns.set(`${reversed('192.0.2.2')}.one.test`, { a: ['127.0.0.2'] });
  dns.set(`${reversed('192.0.2.2')}.two.test`, { a: ['127.0.0.2'] });
  dns.set(`${reversed('192.0.2.2')}.white.test`, { a: ['127.0.10.2'] });
  // An error code beside a listing code: the whole answer is the list's error, never a listing.
  dns.set(`${reversed('192.0.2.3')}.one.test`, { a: ['127.0.0.2', '127.255.255.254'] });
  dns.set(`${reversed('192.0.2.3')}.two.test`, { a: ['127.0.0.2'] });
  // An answer outside 127/8: a resolver rewriting NXDOMAIN, ignored.
  dns.set(`${reversed('192.0.2.4')}.one.test`, { a: ['198.51.100.80'] });
  dns.set(`${reversed('192.0.2.4')}.two.test`, { a: ['127.0.0.2'] });
  const handler = handlerFor(ruleSet);
  expect((await run(handler, session('192.0.2.1'))).rcpt).toEqual({ kind: 'reject', reply: { code: '554', ext: '5.7.1', text: 'Listed' } });
  expect(logLines).toContainEqual(expect.objectContaining({ dnsbl: ['one', 'two'], dnsbl_score: 6 }));
  expect((await run(handler, session('192.0.2.2'))).rcpt).toEqual({ kind: 'continue' }); // 3 + 3 - 4
  expect((await run(handler, session('192.0.2.3'))).rcpt).toEqual({ kind: 'continue' }); // only two.test: 3
  expect((await run(handler, session('192.0.2.4'))).rcpt).toEqual({ kind: 'continue' });
});

test('RHSBL lists count once whether they list the HELO name, the sender domain or both', async () => {
  const ruleSet = parseRuleSet(RULES, 'rules.yml');
  dns.set('pc.helo.example.dbl.test', { a: ['127.0.1.2'] });
  dns.set('spam.example.dbl.test', { a: ['127.0.1.2'] });
  dns.set('spam.example.dbl2.test', { a: ['127.0.1.2'] });
  const handler = handlerFor(ruleSet);
  // HELO and sender both on dbl: 2, not 4.
  expect((await run(handler, session('192.0.2.20', 'x@pc.helo.example'))).mail).toEqual({ kind: 'continue' });
  // dbl (HELO, sender) + dbl2 (sender): 3 > 2.
  expect((await run(handler, session('192.0.2.21', 'x@spam.example'))).mail).toEqual({ kind: 'tempfail', reply: { code: '451', ext: '4.7.1', text: 'Domain listed' } });
});

test('lookups start at CONNECT although no CONNECT rule reads them', async () => {
  const ruleSet = parseRuleSet(RULES, 'rules.yml');
  const handler = handlerFor(ruleSet);
  const ctx = session('192.0.2.30');
  const before = dns.count(`${reversed('192.0.2.30')}.one.test`, 'A');
  await handler.connect!(ctx);
  const deadline = Date.now() + 2000;
  while (dns.count(`${reversed('192.0.2.30')}.one.test`, 'A') === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  expect(dns.count(`${reversed('192.0.2.30')}.one.test`, 'A')).toBe(before + 1);
  expect(dns.count(`${reversed('192.0.2.30')}.in-addr.arpa`, 'PTR')).toBe(1);
});

test('an allow-listed client is accepted without waiting for, or asking, the lists', async () => {
  const ruleSet = parseRuleSet(RULES, 'rules.yml');
  const handler = handlerFor(ruleSet);
  const ctx = session('198.51.100.7');
  dns.set(`${reversed('198.51.100.7')}.one.test`, { a: ['127.0.0.2'], behaviour: 'drop' });
  const started = Date.now();
  const rcpt = await handler.rcpt!(ctx, '<x@example.com>', []);
  expect(rcpt).toEqual({ kind: 'accept' });
  expect(Date.now() - started).toBeLessThan(500);
  expect(dns.count(`${reversed('198.51.100.7')}.one.test`)).toBe(0);
});

test('a list that never answers is not listed once the deadline passes, and the session goes on', async () => {
  const ruleSet = parseRuleSet(RULES, 'rules.yml');
  const handler = handlerFor(ruleSet, 300);
  dns.set(`${reversed('192.0.2.40')}.one.test`, { a: ['127.0.0.2'], behaviour: 'drop' });
  dns.set(`${reversed('192.0.2.40')}.two.test`, { a: ['127.0.0.2'], delayMs: 5000 });
  const ctx = session('192.0.2.40');
  const started = Date.now();
  await handler.connect?.(ctx);
  const rcpt = await handler.rcpt!(ctx, '<x@example.com>', []);
  const took = Date.now() - started;
  expect(rcpt).toEqual({ kind: 'continue' });
  expect(took).toBeGreaterThanOrEqual(250);
  expect(took).toBeLessThan(1500);
});
