// Tracking through real Postfix: normal mail from two clients and a flood from a third (XCLIENT); every
// message Postfix queued is in the tracking database with its sender, recipients and answer, every
// refused session with its rule and key, and `floodgate track` finds them by client and by queue id
// while the service runs.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TrackingRecord } from '../../src/tracking/tracking-record';
import { floodgateCli } from '../support/floodgate-process';
import type { PostfixRig } from '../support/postfix-rig';
import { sendMail, type SendMailResult } from '../support/smtp-client';
import { startFloodgateBehindPostfix, stopFloodgateBehindPostfix, type FloodgateBehindPostfix } from '../support/floodgate-behind-postfix';

jest.setTimeout(120_000);

const dir = mkdtempSync(join(tmpdir(), 'fg-tracking-'));
const config = join(dir, 'floodgate.yml');
const FLOODER = '192.0.2.90';
const CLEAN = ['192.0.2.91', '192.0.2.92'];
let postfix: PostfixRig;

let rig: FloodgateBehindPostfix;

beforeAll(async () => {
  // The shipped rules (delay above 40, tempfail above 60 per client address), tarpits cut to 50 ms;
  // tracking is on by default (SQLite under state_dir).
  rig = await startFloodgateBehindPostfix(dir, 'limits: { max_delay: 50ms }\nhttp: { listen: "off" }\n');
  ({ postfix } = rig);
});

afterAll(() => stopFloodgateBehindPostfix(rig, dir));

function queueIdOf(result: SendMailResult): string | undefined {
  return /queued as ([0-9A-Za-z]+)/.exec(result.endOfData?.raw ?? '')?.[1];
}

async function track(...args: string[]): Promise<TrackingRecord[]> {
  const result = await floodgateCli('track', '--json', '--config', config, ...args);
  if (result.code !== 0) throw new Error(`floodgate track ${args.join(' ')}: exit ${result.code}\n${result.stdout}${result.stderr}`);
  return JSON.parse(result.stdout) as TrackingRecord[];
}

test('every queued message and every refused session is tracked, and track finds them', async () => {
  const queued = new Map<string, { from: string; to: string[] }>();
  for (const [i, ip] of CLEAN.entries()) {
    for (let n = 0; n < 3; n++) {
      const from = `sender${n}@client${i}.example.org`;
      const to = [`a${n}@example.com`, `b${n}@example.com`];
      const result = await sendMail(postfix.smtpPort, { helo: `mail${i}.example.org`, xclient: `ADDR=${ip} NAME=mail${i}.example.org`, from, rcpts: to, body: `Subject: test ${n}\r\n\r\nhello\r\n` });
      expect(result.accepted).toBe(true);
      queued.set(queueIdOf(result)!, { from, to });
    }
  }
  let refused = 0;
  for (let n = 1; n <= 64; n++) {
    const result = await sendMail(postfix.smtpPort, { helo: 'pc.customer.example', xclient: `ADDR=${FLOODER} NAME=[UNAVAILABLE]`, from: `user${n}@example.org`, rcpts: [`friend${n}@example.com`], body: 'Subject: hi\r\n\r\nspam\r\n' });
    if (result.accepted) queued.set(queueIdOf(result)!, { from: `user${n}@example.org`, to: [`friend${n}@example.com`] });
    else refused++;
  }
  expect(refused).toBe(4); // recipients 61..64: above 60 points, tempfail
  expect(queued.size).toBe(6 + 60);

  // Records reach the database within the writer's flush interval.
  let all: TrackingRecord[] = [];
  for (let tries = 0; tries < 50; tries++) {
    all = await track('--limit', '1000');
    if (all.filter((r) => r.queueId !== undefined).length >= queued.size && all.filter((r) => r.answer === 'tempfail').length >= 4) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  // Postfix's own log names the same queue ids.
  const logged = new Set([...postfix.log().matchAll(/\]: ([0-9A-Za-z]{6,}): client=/g)].map((m) => m[1]));
  for (const id of queued.keys()) expect(logged.has(id)).toBe(true);
  for (const [queueId, sent] of queued) {
    const record = all.find((r) => r.queueId === queueId);
    expect({ queueId, sender: record?.sender, recipients: record?.recipients.map((x) => x.address), answer: record?.answer }).toEqual({
      queueId, sender: sent.from, recipients: sent.to, answer: expect.stringMatching(/^(accepted|delayed)$/),
    });
  }
  const delayed = all.filter((r) => r.clientIp === FLOODER && r.answer === 'delayed');
  expect(delayed).toHaveLength(20); // 41..60
  const tempfails = all.filter((r) => r.answer === 'tempfail');
  expect(tempfails).toHaveLength(4);
  for (const r of tempfails) {
    expect(r).toMatchObject({ clientIp: FLOODER, stage: 'rcpt', helo: 'pc.customer.example', rules: ['recipients'], recipients: [{ answer: 'tempfail', reply: expect.stringContaining('451 4.7.1') }] });
    expect(r.keys).toContainEqual({ key: `ip:${FLOODER}`, score: expect.any(Number) });
    expect(r.sender).toMatch(/^user6[1-4]@example\.org$/);
  }

  const byIp = await track('--ip', FLOODER, '--answer', 'tempfail');
  expect(byIp.map((r) => r.sender)).toEqual(['user64@example.org', 'user63@example.org', 'user62@example.org', 'user61@example.org']);
  expect((await track('--ip', '192.0.2.88/30')).every((r) => r.clientIp === FLOODER || CLEAN.includes(r.clientIp!))).toBe(true);
  const [someId] = queued.keys();
  const one = await track('--queue-id', someId!);
  expect(one).toHaveLength(1);
  const shown = await floodgateCli('track', 'show', String(one[0]!.id), '--config', config);
  expect(shown.code).toBe(0);
  expect(shown.stdout).toContain(`queue id:     ${someId}`);
  const text = await floodgateCli('track', '--from', 'user64@example.org', '--config', config);
  expect(text.stdout).toMatch(/tempfail@rcpt +192\.0\.2\.90 +<user64@example\.org> -> friend64@example\.com\(tempfail\) \[recipients\]/);
});
