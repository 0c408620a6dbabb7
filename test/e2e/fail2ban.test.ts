// The shipped fail2ban filter, run by fail2ban's own fail2ban-regex over Floodgate's log of a real
// flood through Postfix (JSON and text format), and over every line shape it must not be fooled by.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { answerLogFields } from '../../src/handler/answer-record';
import type { AnswerRecord } from '../../src/handler/scoring-observer';
import { createLogger } from '../../src/log/logger';
import { startFloodgateProcess, type FloodgateProcess } from '../support/floodgate-process';
import { freePort } from '../support/ports';
import { startPostfix, type PostfixRig } from '../support/postfix-rig';
import { killAllTracked, runCommand } from '../support/processes';
import { sendMail, type SendMailResult } from '../support/smtp-client';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink';

jest.setTimeout(180_000);

const FILTER = join(__dirname, '..', '..', 'packaging', 'fail2ban', 'floodgate.conf');
const FLOODER = '192.0.2.90';
const BYSTANDER = '192.0.2.91';
const HOSTILE = '192.0.2.92';
const TRUSTED = '127.0.0.9'; // the shipped rules' allow-list: its lines say answer ok
/** Named only in the hostile client's HELO: fail2ban must never see it as a client. */
const VICTIM = '198.51.100.66';
const HOSTILE_HELO = `x","client":"${VICTIM}","message":"answer","rule":"r answer=reject client=${VICTIM} rule=r`;

const dir = mkdtempSync(join(tmpdir(), 'fg-fail2ban-'));
let sink: SmtpSink;
let postfix: PostfixRig;
let milterPort: number;
let floodgate: FloodgateProcess | undefined;

interface RegexRun {
  /** Each matched line with the address fail2ban took from it. */
  matched: Array<{ ip: string; line: string }>;
  /** fail2ban-regex's own count: "Lines: N lines, I ignored, M matched, K missed". */
  summary: { lines: number; ignored: number; matched: number; missed: number };
}

async function fail2banRegex(logFile: string, filter = FILTER): Promise<RegexRun> {
  const listed = await runCommand('fail2ban-regex', ['--out', '<ip> <msg>', logFile, filter]);
  const counted = await runCommand('fail2ban-regex', ['--print-no-missed', logFile, filter]);
  for (const run of [listed, counted]) if (run.code !== 0) throw new Error(`fail2ban-regex exited ${run.code}:\n${run.stdout}${run.stderr}`);
  const summary = /^Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed/m.exec(counted.stdout);
  if (!summary) throw new Error(`no summary in fail2ban-regex's output:\n${counted.stdout}`);
  const matched = listed.stdout.split('\n').filter((l) => l !== '').map((l) => ({ ip: l.slice(0, l.indexOf(' ')), line: l.slice(l.indexOf(' ') + 1) }));
  const [lines, ignored, matchedCount, missed] = summary.slice(1).map(Number);
  return { matched, summary: { lines, ignored, matched: matchedCount, missed } };
}

function send(ip: string, n: number, helo = 'pc.customer.example'): Promise<SendMailResult> {
  return sendMail(postfix.smtpPort, { helo, xclient: `ADDR=${ip} NAME=[UNAVAILABLE]`, from: `user${n}@example.org`, rcpts: [`friend${n}@example.com`] });
}

const rcptCode = (r: SendMailResult): number | undefined => (r.rcpts[0] ?? r.transcript.find((t) => t.stage === 'rcpt')?.reply)?.code;
const tally = (ips: string[]): Record<string, number> => ips.reduce<Record<string, number>>((t, ip) => ({ ...t, [ip]: (t[ip] ?? 0) + 1 }), {});
const count = (codes: Array<number | undefined>, code: number): number => codes.filter((c) => c === code).length;

/** The shipped rules: above 40 points delay, above 60 tempfail, a point per recipient; 127.0.0.0/8 allowed. */
async function flood(): Promise<{ flooder: Array<number | undefined>; hostile: Array<number | undefined> }> {
  const flooder: Array<number | undefined> = [];
  const hostile: Array<number | undefined> = [];
  for (let n = 1; n <= 65; n++) {
    flooder.push(rcptCode(await send(FLOODER, n)));
    if (n % 20 === 0) {
      expect(rcptCode(await send(BYSTANDER, 1000 + n))).toBe(250);
      expect(rcptCode(await send(TRUSTED, 2000 + n))).toBe(250);
    }
  }
  for (let n = 1; n <= 62; n++) hostile.push(rcptCode(await send(HOSTILE, 3000 + n, HOSTILE_HELO)));
  return { flooder, hostile };
}

beforeAll(async () => {
  const found = await runCommand('fail2ban-regex', ['--version']).catch((error: Error) => ({ code: -1, stdout: '', stderr: error.message }));
  if (found.code !== 0) {
    throw new Error(`fail2ban-regex is needed (Debian package fail2ban; scripts/install-test-deps.sh installs it): ${found.stderr}`);
  }
  sink = await startSmtpSink();
  milterPort = await freePort();
  postfix = await startPostfix({ milter: `inet:127.0.0.1:${milterPort}`, relayPort: sink.port, milterDefaultAction: 'tempfail' });
});

afterAll(async () => {
  await postfix?.stop();
  await killAllTracked();
  await sink?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.each(['json', 'text'] as const)('the %s log of a real flood', (format) => {
  let run: RegexRun;
  let log: string;
  let refusals: { flooder: number; hostile: number };

  beforeAll(async () => {
    const configFile = join(dir, `${format}.yml`);
    // Memory store: each format's flood starts from no scores. Debug: every stage of every client
    // is logged ("decision" lines with their client field), so the bystander's lines are there to miss.
    writeFileSync(
      configFile,
      `listen: inet:127.0.0.1:${milterPort}\nstore: { backend: memory }\nlimits: { max_delay: 1ms }\nhttp: { listen: "off" }\nlog: { level: debug, format: ${format} }\n`,
    );
    floodgate = await startFloodgateProcess(configFile);
    const outcomes = await flood();
    // 40 accepted, 20 delayed, then 451: the flooder's last 5 of 65, the hostile client's last 2 of 62.
    refusals = { flooder: count(outcomes.flooder, 451), hostile: count(outcomes.hostile, 451) };
    expect(refusals).toEqual({ flooder: 5, hostile: 2 });
    expect(count(outcomes.flooder, 250)).toBe(60);
    await floodgate.stop();
    log = floodgate.log();
    floodgate = undefined;
    const logFile = join(dir, `floodgate-${format}.log`);
    writeFileSync(logFile, log);
    run = await fail2banRegex(logFile);
  });

  test("every refusal of the flooding client matches, with the flooder's address", () => {
    expect(run.matched.filter((m) => m.ip === FLOODER)).toHaveLength(refusals.flooder);
    expect(run.matched.every((m) => m.line.includes(format === 'json' ? '"answer":"tempfail"' : 'answer=tempfail'))).toBe(true);
    // Its 20 delays are in the log, and are not failures.
    expect(log.split('\n').filter((l) => l.includes(FLOODER) && (format === 'json' ? l.includes('"answer":"delay"') : l.includes('answer=delay')))).toHaveLength(20);
  });

  test("no line of the clean client or of the allow-listed one matches, though the log has theirs", () => {
    for (const ip of [BYSTANDER, TRUSTED]) {
      expect(log.split('\n').filter((l) => l.includes(ip)).length).toBeGreaterThan(0);
      expect(run.matched.filter((m) => m.ip === ip || m.line.includes(ip))).toEqual([]);
    }
  });

  test('a HELO carrying client=... makes no other address match: only the hostile client itself, for its own refusals', () => {
    const hostileLines = log.split('\n').filter((l) => l.includes(VICTIM));
    expect(hostileLines.length).toBeGreaterThan(20); // its HELO is in its answer and decision lines
    expect(run.matched.filter((m) => m.line.includes(VICTIM)).map((m) => m.ip)).toEqual(Array(refusals.hostile).fill(HOSTILE));
    expect(run.matched.map((m) => m.ip).filter((ip) => ip === VICTIM)).toEqual([]);
  });

  test("fail2ban-regex's own count: exactly the refusals matched, every other line missed", () => {
    const lines = log.split('\n').filter((l) => l !== '').length;
    expect(run.summary).toEqual({ lines, ignored: 0, matched: refusals.flooder + refusals.hostile, missed: lines - refusals.flooder - refusals.hostile });
    expect(run.matched).toHaveLength(run.summary.matched);
  });
});

/** Lines exactly as the logger writes them, for the line shapes a flood does not produce. */
function written(format: 'json' | 'text', lines: Array<[string, Partial<AnswerRecord>]>): string[] {
  let text = '';
  const stream = new Writable({ write: (chunk, _encoding, done) => ((text += String(chunk)), done()) });
  const logger = createLogger('info', format, stream, false);
  for (const [message, record] of lines) {
    logger.info(message, answerLogFields({ time: 0, conn: 'c1', event: 'rcpt', answer: 'ok', would: false, ...record }));
  }
  return text.split('\n').filter((l) => l !== '');
}

describe('the filter over the line shapes a flood does not produce', () => {
  const refused = (clientIp: string, answer: 'tempfail' | 'reject' | 'delay', extra: Partial<AnswerRecord> = {}): [string, Partial<AnswerRecord>] =>
    ['answer', { answer, clientIp, rule: 'recipients', key: `ip:${clientIp}`, score: 61, ...(answer === 'delay' ? { delaySeconds: 2 } : { reply: '451 4.7.1 Too much mail' }), ...extra }];
  const hostileValues = [
    `x","client":"${VICTIM}","message":"answer","rule":"r`,
    `x answer=reject client=${VICTIM} rule=r`,
    `x\n2024-05-01T12:00:00.000Z info answer answer=reject client=${VICTIM} rule=r`,
    `{"answer":"reject","client":"${VICTIM}","message":"answer","rule":"r"}`,
  ];
  const hostileFields = (i: number): Partial<AnswerRecord> => ({ helo: hostileValues[i % 4], sender: hostileValues[(i + 1) % 4], recipient: hostileValues[(i + 2) % 4], clientName: hostileValues[(i + 3) % 4] });
  const events: Array<[string, Partial<AnswerRecord>]> = [
    refused('2001:db8::66', 'tempfail'),
    refused('192.0.2.67', 'reject'),
    refused('192.0.2.68', 'delay'),
    ['observe: would answer', { answer: 'reject', clientIp: '192.0.2.69', rule: 'recipients', would: true }],
    ['answer', { answer: 'ok', clientIp: '127.0.0.9', rule: 'trusted-networks' }],
    ['answer', { answer: 'tempfail', clientIp: '192.0.2.70', reply: '451 4.3.0 Try again later' }], // on_store_error: no rule
    ...[0, 1, 2, 3].map((i): [string, Partial<AnswerRecord>] => ['answer', { answer: 'ok', clientIp: '192.0.2.71', rule: 'trusted-networks', ...hostileFields(i) }]),
    ...[0, 1, 2, 3].map((i): [string, Partial<AnswerRecord>] => refused('192.0.2.72', 'tempfail', hostileFields(i))),
  ];
  // As written to a file, and as rsyslog writes them to mail.log (Debian's RFC 3339 time, and the traditional one).
  const shapes = (line: string): string[] => [line, `2024-05-01T12:00:00.123456+02:00 mx1 floodgate[4242]: ${line}`, `May  1 12:00:00 mx1 floodgate[4242]: ${line}`];
  const logFile = join(dir, 'shapes.log');

  beforeAll(() => {
    writeFileSync(logFile, `${[...written('json', events), ...written('text', events)].flatMap(shapes).join('\n')}\n`);
  });

  test('refusals match with their client (IPv4 and IPv6); delay, observe, allow-list, store outage and forged fields do not', async () => {
    const run = await fail2banRegex(logFile);
    // Each line in 2 formats x 3 shapes: 6 times each refusal, 24 times the hostile client's 4 refusals.
    expect(tally(run.matched.map((m) => m.ip))).toEqual({ '2001:db8::66': 6, '192.0.2.67': 6, '192.0.2.72': 24 });
    expect(run.summary).toMatchObject({ lines: events.length * 6, ignored: 0, matched: 36 });
  });

  test('answers="reject|tempfail|delay" counts delays too', async () => {
    const run = await fail2banRegex(logFile, `${FILTER}[answers="reject|tempfail|delay"]`);
    expect(tally(run.matched.map((m) => m.ip))).toEqual({ '2001:db8::66': 6, '192.0.2.67': 6, '192.0.2.68': 6, '192.0.2.72': 24 });
    expect(run.summary.matched).toBe(42);
  });
});
