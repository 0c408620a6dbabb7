// Connection reputation through real Postfix: DNS blocklists, an allow-list, reverse DNS and a recipient map.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDnsServer, type TestDnsServer } from '../support/dns-server';
import { startFloodgateProcess, type FloodgateProcess } from '../support/floodgate-process';
import { freePort } from '../support/ports';
import { startPostfix, type PostfixRig } from '../support/postfix-rig';
import { killAllTracked } from '../support/processes';
import { sendMail, type SendMailResult } from '../support/smtp-client';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink';

jest.setTimeout(120_000);

const dir = mkdtempSync(join(tmpdir(), 'fg-reputation-'));
const LISTED_TWICE = '192.0.2.10';
const LISTED_ONCE = '192.0.2.11';
const PARTNER = '192.0.2.20';
const NO_PTR = '192.0.2.30';
const CONFIRMED = '192.0.2.40';
const DYNAMIC = '192.0.2.41';
const DICTIONARY = '192.0.2.50';

const RULES = `
keys:
  ip: { half_life: 1h }
lists:
  # 127.0.0.1 is the test's own connection before XCLIENT: it must not wait for its PTR.
  partners: { cidr: ["${PARTNER}/32", "127.0.0.0/8"] }
dnsbl:
  bl-one: { zone: bl-one.test, answers: ["127.0.0.[2..11]"], weight: 3 }
  bl-two: { zone: bl-two.test, weight: 3 }
recipients:
  map: hash:virtual
  postfix_config: POSTFIX_CONFIG
rules:
  - name: partners
    on: connect
    when: { client_ip: { list: partners } }
    ok: true
  - name: no-reverse-dns
    on: connect
    when: { reverse_dns: [none, unverified] }
    delay: 3s
  - name: end-user-line
    on: connect
    when: { reverse_dns: dynamic }
    delay: 1500ms
  - name: blocklisted
    on: rcpt
    when: { dnsbl: { above: 5 } }
    reject: { code: 554, ext: "5.7.1", text: "Your address is on DNS blocklists" }
  - name: unknown-recipient
    on: rcpt
    when: { recipient_known: false }
    add: { ip: 1 }
    reject: { code: 550, ext: "5.1.1", text: "No such user here" }
  - name: every-recipient
    on: rcpt
    add: { ip: 0 }
thresholds:
  ip:
    - above: 19.5
      tempfail: { code: 451, ext: "4.7.1", text: "Too many unknown recipients; try again later" }
`;

let dns: TestDnsServer;
let sink: SmtpSink;
let postfix: PostfixRig;
let floodgate: FloodgateProcess;

/** PTR and a matching A record: forward-confirmed reverse DNS. */
function confirmedName(ip: string, name: string): void {
  dns.setPtr(ip, [name]);
  dns.set(name, { a: [ip] });
}

function reversed(ip: string): string {
  return ip.split('.').reverse().join('.');
}

function send(ip: string, rcpts: string[], from = 'someone@example.org'): Promise<SendMailResult> {
  return sendMail(postfix.smtpPort, { helo: 'client.example.org', xclient: `ADDR=${ip} NAME=[UNAVAILABLE]`, from, rcpts, timeoutMs: 20_000 });
}

beforeAll(async () => {
  dns = await startDnsServer();
  dns.set(`${reversed(LISTED_TWICE)}.bl-one.test`, { a: ['127.0.0.2'] });
  dns.set(`${reversed(LISTED_TWICE)}.bl-two.test`, { a: ['127.0.0.4'] });
  dns.set(`${reversed(LISTED_ONCE)}.bl-one.test`, { a: ['127.0.0.2'] });
  dns.set(`${reversed(PARTNER)}.bl-one.test`, { a: ['127.0.0.2'] });
  dns.set(`${reversed(PARTNER)}.bl-two.test`, { a: ['127.0.0.2'] });
  for (const ip of [LISTED_TWICE, LISTED_ONCE, PARTNER, CONFIRMED, DICTIONARY]) confirmedName(ip, `mail${ip.split('.')[3]}.example.org`);
  confirmedName(DYNAMIC, `dsl-192-0-2-41.pool.isp.example.net`);

  const milterPort = await freePort();
  sink = await startSmtpSink();
  // Postfix first: the map is built and read with its configuration (postmap needs a main.cf).
  postfix = await startPostfix({ milter: `inet:127.0.0.1:${milterPort}`, relayPort: sink.port, milterDefaultAction: 'tempfail' });
  writeFileSync(join(dir, 'virtual'), 'known@example.com OK\npostmaster@example.com OK\n');
  execFileSync('postmap', ['-c', postfix.configDir, `hash:${join(dir, 'virtual')}`]);
  writeFileSync(join(dir, 'rules.yml'), RULES.replace('POSTFIX_CONFIG', postfix.configDir));
  writeFileSync(join(dir, 'floodgate.yml'), `listen: inet:127.0.0.1:${milterPort}\nrules: rules.yml\nstate_dir: state\ndns: { servers: ["${dns.server}"], timeout: 2s }\nhttp: { listen: "off" }\n`);
  floodgate = await startFloodgateProcess(join(dir, 'floodgate.yml'));
});

afterAll(async () => {
  await postfix?.stop();
  await killAllTracked();
  await sink?.close();
  await dns?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a client on two weighted blocklists is rejected with the configured text; on one it passes', async () => {
  const twice = await send(LISTED_TWICE, ['known@example.com']);
  expect(twice.rcpts.map((r) => r.raw)).toEqual([expect.stringContaining('554 5.7.1 Your address is on DNS blocklists')]);
  const once = await send(LISTED_ONCE, ['known@example.com']);
  expect(once.accepted).toBe(true);
  // Both lists were really asked, through the configured resolver.
  expect(dns.count(`${reversed(LISTED_TWICE)}.bl-one.test`, 'A')).toBeGreaterThan(0);
  expect(dns.count(`${reversed(LISTED_TWICE)}.bl-two.test`, 'A')).toBeGreaterThan(0);
  expect(floodgate.log()).toMatch(/"dnsbl":\["bl-one","bl-two"\].*"dnsbl_score":6|"dnsbl_score":6.*"dnsbl":\["bl-one","bl-two"\]/);
});

test('a client on the allow-list passes although both lists list it', async () => {
  const partner = await send(PARTNER, ['known@example.com']);
  expect(partner.accepted).toBe(true);
});

test('no reverse DNS waits longer than an end-user name, which waits longer than a confirmed name', async () => {
  const timed = async (ip: string) => {
    const result = await send(ip, ['known@example.com']);
    expect(result.accepted).toBe(true);
    // Postfix runs the milter's CONNECT when XCLIENT changes the client: its reply carries the delay.
    return result.xclient!.elapsedMs;
  };
  const none = await timed(NO_PTR);
  const dynamic = await timed(DYNAMIC);
  const confirmed = await timed(CONFIRMED);
  expect(none).toBeGreaterThanOrEqual(3000);
  expect(dynamic).toBeGreaterThanOrEqual(1500);
  expect(dynamic).toBeLessThan(3000);
  expect(confirmed).toBeLessThan(1000);
});

test('twenty unknown recipients are each rejected and push their client to tempfail', async () => {
  const replies: string[] = [];
  // Four sessions of five: Postfix's smtpd_soft_error_limit (10) would slow one session with twenty errors.
  for (let s = 0; s < 4; s++) {
    const result = await send(DICTIONARY, [1, 2, 3, 4, 5].map((n) => `nobody${s * 5 + n}@example.com`));
    replies.push(...result.rcpts.map((r) => r.raw));
  }
  expect(replies).toHaveLength(20);
  for (const reply of replies) expect(reply).toContain('550 5.1.1 No such user here');
  const after = await send(DICTIONARY, ['known@example.com']);
  expect(after.rcpts.map((r) => r.raw)).toEqual([expect.stringContaining('451 4.7.1 Too many unknown recipients')]);
  // Another client still reaches the known recipient.
  expect((await send(CONFIRMED, ['known@example.com'])).accepted).toBe(true);
});
