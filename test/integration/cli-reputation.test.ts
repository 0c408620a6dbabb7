// `floodgate simulate` and `check-rules` with DNS lists, reverse DNS and a recipient map (real DNS server on loopback).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDnsServer, type TestDnsServer } from '../support/dns-server';

const CLI = join(__dirname, '..', '..', 'dist', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'fg-cli-rep-'));
let dns: TestDnsServer;

/** Runs the CLI asynchronously: the DNS server answers from this process meanwhile. */
function cli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, FLOODGATE_CONFIG: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += String(d)));
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const RULES = `
keys:
  ip: { half_life: 10m }
dnsbl:
  one: { zone: one.test, answers: ["127.0.0.[2..11]"], weight: 3 }
  two: { zone: two.test, weight: 2 }
  broken: { zone: broken.test, weight: 5 }
recipients:
  map: list:recipients.txt
rules:
  - name: listed
    on: rcpt
    add: { ip: dnsbl }
  - name: unknown
    on: rcpt
    when: { recipient_known: false }
    reject: { code: 550, ext: "5.1.1", text: "No such user" }
  - name: no-ptr
    on: connect
    when: { reverse_dns: none }
    delay: 2s
thresholds:
  ip:
    - above: 4
      tempfail: true
`;

beforeAll(async () => {
  dns = await startDnsServer();
  dns.set('7.2.0.192.one.test', { a: ['127.0.0.3'] });
  dns.set('7.2.0.192.two.test', { a: ['127.0.0.2'] });
  dns.set('7.2.0.192.broken.test', { a: ['127.255.255.254'] });
  writeFileSync(join(dir, 'rules.yml'), RULES);
  writeFileSync(join(dir, 'recipients.txt'), 'known@example.com\n');
  writeFileSync(join(dir, 'floodgate.yml'), `rules: rules.yml\nstate_dir: state\ndns: { servers: ["${dns.server}"], timeout: 1s }\nhttp: { listen: "off" }\n`);
});

afterAll(async () => {
  await dns.close();
  rmSync(dir, { recursive: true, force: true });
});

test('simulate shows every list\'s answer, the reverse DNS, and the points and answers they lead to', async () => {
  const result = await cli('simulate', '--config', join(dir, 'floodgate.yml'), '--ip', '192.0.2.7', '--from', 'a@example.org', '--rcpt', 'known@example.com', '--rcpt', 'nobody@example.com');
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  const out = result.stdout;
  expect(out).toMatch(/connect\s+-> delay 2s.*\[reverse dns none\]/);
  expect(out).toMatch(/rcpt\s+known@example.com -> tempfail\s+ip:192\.0\.2\.7=5\.00 \(listed; tempfail\)\s+\[dnsbl 5 \(one,two\); recipient known\]/);
  expect(out).toMatch(/rcpt\s+nobody@example.com -> reject 550 5\.1\.1.*\[dnsbl 5 \(one,two\); recipient unknown\]/);
  expect(out).toContain('dnsbl one (one.test): listed 127.0.0.3 -> +3');
  expect(out).toContain('dnsbl two (two.test): listed 127.0.0.2 -> +2');
  expect(out).toContain('dnsbl broken (broken.test): list-error 127.255.255.254');
  expect(out).toContain('reverse dns: none');
});

test('check-rules loads the recipient map and fails (78) when it cannot', async () => {
  const ok = await cli('check-rules', join(dir, 'rules.yml'));
  expect(ok.status).toBe(0);
  expect(ok.stdout).toContain(`recipient map list:${join(dir, 'recipients.txt')}: 1 entries, domains example.com`);
  writeFileSync(join(dir, 'missing-map.yml'), RULES.replace('list:recipients.txt', 'hash:nonexistent'));
  const broken = await cli('check-rules', join(dir, 'missing-map.yml'));
  expect(broken.status).toBe(78);
  expect(broken.stderr).toContain('nonexistent');
});
