// Issue 19: patterns that backtrack exponentially in JavaScript, in the running service, against
// 320-character HELO names and senders. The service must answer with the right verdict and its
// event loop must stay free; `check-rules` accepts them and refuses what the engine cannot run.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { floodgateCli, startFloodgateProcess } from '../support/floodgate-process';
import { MtaClient } from '../support/mta-client';
import { freePort } from '../support/ports';
import { killAllTracked } from '../support/processes';

jest.setTimeout(60_000);

const dir = mkdtempSync(join(tmpdir(), 'fg-redos-'));
const HOSTILE = ['(a+)+$', '(x|x)*y', '^(\\w+\\s?)*$'];

// One rule per pattern, so /metrics counts each one's matches.
const RULES = `
keys:
  ip: { half_life: 1h }
lists:
  hostile_helos: { patterns: ["(x|x)*y", "^(\\\\w+\\\\s?)*$"] }
rules:
  - name: nested-plus
    on: helo
    when: { helo: { matches: "(a+)+$" } }
    add: { ip: 1 }
  - name: hostile-list
    on: helo
    when: { helo: { list: hostile_helos } }
    add: { ip: 10 }
  - name: hostile-sender
    on: mail
    when: { sender: { matches: "^(\\\\w+\\\\s?)*$" } }
    add: { ip: 10 }
thresholds:
  ip:
    - above: 5
      tempfail: { code: "451", ext: "4.7.1", text: "HELO refused" }
`;

let milterPort: number;
let httpPort: number;

beforeAll(async () => {
  milterPort = await freePort();
  httpPort = await freePort();
  writeFileSync(join(dir, 'rules.yml'), RULES);
  writeFileSync(join(dir, 'floodgate.yml'), `listen: inet:127.0.0.1:${milterPort}\nrules: rules.yml\nstate_dir: state\nhttp: { listen: "127.0.0.1:${httpPort}" }\n`);
  await startFloodgateProcess(join(dir, 'floodgate.yml'));
});

afterAll(async () => {
  await killAllTracked();
  rmSync(dir, { recursive: true, force: true });
});

function metrics(): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: httpPort, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.once('end', () => resolve(body));
    });
    req.once('error', reject);
    req.end();
  });
}

function metric(text: string, line: RegExp): number {
  const m = line.exec(text);
  if (!m) throw new Error(`${line} not in /metrics:\n${text}`);
  return Number(m[1]);
}

const text = (reply: { code: string; text: string }) => (reply.code === 'y' ? reply.text : reply.code);

/** Connect from `ip`, HELO `name`, then MAIL FROM `sender` if HELO passed; the last reply ('c' or the 451 text). */
async function session(ip: string, name: string, sender = 'postmaster@example.org'): Promise<string> {
  const mta = await MtaClient.open({ port: milterPort });
  await mta.negotiate();
  mta.connectInfo(`[${ip}]`, ip);
  expect((await mta.answerTo('C')).code).toBe('c');
  mta.send('H', `${name}\0`);
  let answer = text(await mta.answerTo('H', 10_000));
  if (answer === 'c') {
    mta.send('M', `<${sender}>\0`);
    answer = text(await mta.answerTo('M', 10_000));
  }
  mta.send('Q');
  await mta.waitClosed();
  return answer;
}

test('the inputs are hostile: the JavaScript engine does not finish (a+)+$ on 40 characters within 2 s', () => {
  // The control that makes the test below mean something, in a child process that is killed.
  const script = "new RegExp('(a+)+$', 'i').test('a'.repeat(40) + '!'); console.log('finished')";
  const run = spawnSync(process.execPath, ['-e', script], { timeout: 2000, encoding: 'utf8' });
  expect(run.signal).toBe('SIGTERM');
  expect(run.stdout).toBe('');
});

test('320-character HELO names and senders meet the hostile patterns: right verdicts, event loop never blocked for long', async () => {
  await metrics(); // resets the event-loop delay histogram: the maximum below covers these sessions only
  const verdicts: string[] = [];
  for (let round = 0; round < 5; round++) {
    // A HELO fact keeps 254 characters and a '…' (src/net/normalise.ts): a run of a's or x's that
    // then fails to match, the worst case for backtracking. These match nothing.
    verdicts.push(await session(`192.0.2.${10 + round}`, 'a'.repeat(320)));
    verdicts.push(await session(`192.0.2.${20 + round}`, 'x'.repeat(320)));
    // A sender keeps 320 characters.
    verdicts.push(await session(`192.0.2.${30 + round}`, 'mx.example.org', 'a'.repeat(319) + '!'));
    // These match: nested-plus and ^(\w+\s?)*$, then (x|x)*y, then the sender rule.
    verdicts.push(await session(`198.51.100.${10 + round}`, 'a'.repeat(250)));
    verdicts.push(await session(`198.51.100.${20 + round}`, 'x'.repeat(249) + '-y'));
    verdicts.push(await session(`198.51.100.${30 + round}`, 'mx.example.org', 'ab '.repeat(106) + 'ab'));
  }
  const refused = '451 4.7.1 HELO refused';
  expect(verdicts).toEqual(Array(5).fill(['c', 'c', 'c', refused, refused, refused]).flat());
  const scrape = await metrics();
  expect(metric(scrape, /^floodgate_rule_matches_total\{rule="nested-plus"\} (\d+)$/m)).toBe(5);
  expect(metric(scrape, /^floodgate_rule_matches_total\{rule="hostile-list"\} (\d+)$/m)).toBe(10);
  expect(metric(scrape, /^floodgate_rule_matches_total\{rule="hostile-sender"\} (\d+)$/m)).toBe(5);
  // A backtracking engine would hold the loop for hours (see the control above); linear matching
  // takes well under a millisecond. The bound is generous so that a loaded CI machine cannot trip it.
  const maxLagSeconds = metric(scrape, /^nodejs_eventloop_lag_max_seconds (\S+)$/m);
  expect(maxLagSeconds).toBeLessThan(0.5);
});

test('check-rules accepts the hostile patterns and refuses lookahead with file:line:column and the reason', async () => {
  const ok = await floodgateCli('check-rules', join(dir, 'rules.yml'));
  expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: '' });
  expect(ok.stdout).toMatch(/^OK: 3 rules/);
  writeFileSync(join(dir, 'lookahead.yml'), RULES.replace('"(a+)+$"', '"^(?!mail)"'));
  const refused = await floodgateCli('check-rules', join(dir, 'lookahead.yml'));
  expect(refused.code).toBe(78);
  expect(refused.stderr).toMatch(/lookahead\.yml:9:30: invalid regular expression "\^\(\?!mail\)": invalid or unsupported Perl syntax: `\(\?!` \(lookaround and backreferences have no linear-time match/);
  expect(HOSTILE.every((p) => RULES.includes(JSON.stringify(p).slice(1, -1)))).toBe(true);
});
