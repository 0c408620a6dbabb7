// A flood through real Postfix while /metrics is scraped: the scrape passes promtool, and what it
// counts is what Postfix logged (every milter-reject line is one refusal counted, each kind apart).
import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/ports';
import type { PostfixRig } from '../support/postfix-rig';
import { sendMail } from '../support/smtp-client';
import { startFloodgateBehindPostfix, stopFloodgateBehindPostfix, type FloodgateBehindPostfix } from '../support/floodgate-behind-postfix';

jest.setTimeout(120_000);

const dir = mkdtempSync(join(tmpdir(), 'fg-metrics-'));
const FLOODER = '192.0.2.80';
const CLEAN = '192.0.2.81';
let postfix: PostfixRig;
let httpPort: number;

function scrape(): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: httpPort, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.once('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`/metrics: ${res.statusCode}`))));
    });
    req.once('error', reject);
    req.end();
  });
}

/** The value of one series of a counter, 0 when it is absent. */
function counter(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

let rig: FloodgateBehindPostfix;

beforeAll(async () => {
  httpPort = await freePort();
  // The shipped rules (delay above 40, tempfail above 60 per client address); tarpits cut to 100 ms.
  rig = await startFloodgateBehindPostfix(dir, `limits: { max_delay: 100ms }\nhttp: { listen: "127.0.0.1:${httpPort}" }\n`);
  ({ postfix } = rig);
});

afterAll(() => stopFloodgateBehindPostfix(rig, dir));

test('refusals counted in /metrics equal the milter-reject lines Postfix logged, and promtool accepts every scrape', async () => {
  const scrapes: string[] = [];
  let flooding = true;
  // Scrapes every 250 ms while the flood runs, as Prometheus would (faster, to catch a torn exposition).
  const scraper = (async () => {
    while (flooding) {
      scrapes.push(await scrape());
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  for (let n = 1; n <= 70; n++) {
    await sendMail(postfix.smtpPort, { helo: 'pc.customer.example', xclient: `ADDR=${FLOODER} NAME=[UNAVAILABLE]`, from: `user${n}@example.org`, rcpts: [`friend${n}@example.com`] });
    if (n % 10 === 0) await sendMail(postfix.smtpPort, { helo: 'mail.partner.example', xclient: `ADDR=${CLEAN} NAME=mail.partner.example`, from: `p${n}@partner.example`, rcpts: [`someone${n}@example.com`] });
  }
  flooding = false;
  await scraper;
  await postfix.waitForLog(/milter-reject: RCPT from .*192\.0\.2\.80/);
  const final = await scrape();

  for (const text of [...scrapes, final]) {
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (promtool.error) throw new Error(`promtool is needed (Debian package prometheus; scripts/install-test-deps.sh installs it): ${promtool.error.message}`);
    expect(`${promtool.status} ${promtool.stdout}${promtool.stderr}`).toBe('0 ');
  }
  expect(scrapes.length).toBeGreaterThan(3);

  const rejectLines = postfix.log().split('\n').filter((l) => l.includes('milter-reject:'));
  const tempfailLines = rejectLines.filter((l) => / 4\.7\.1 /.test(l) || /: 451 /.test(l));
  expect(rejectLines.length).toBe(10); // messages 61..70 of the flooder
  expect(tempfailLines).toHaveLength(rejectLines.length);
  expect(rejectLines.every((l) => l.includes(FLOODER))).toBe(true);
  const refused = counter(final, 'floodgate_milter_replies_total{stage="rcpt",reply="tempfail"}') + counter(final, 'floodgate_milter_replies_total{stage="rcpt",reply="reject"}');
  expect(refused).toBe(rejectLines.length);
  expect(counter(final, 'floodgate_answers_total{event="rcpt",answer="tempfail",observe="false"}')).toBe(tempfailLines.length);
  expect(counter(final, 'floodgate_answers_total{event="rcpt",answer="delay",observe="false"}')).toBe(20); // messages 41..60
  expect(counter(final, 'floodgate_tarpit_seconds_count')).toBe(20);
  // Two milter connections per SMTP session here: XCLIENT makes Postfix close the first and open
  // another with the new client (counted here: 154 for 77 sessions); without XCLIENT it is one per session.
  expect(counter(final, 'floodgate_mta_connections_total')).toBe(2 * 77);
  expect(counter(final, 'floodgate_threshold_crossings_total{key_class="ip",answer="tempfail",observe="false"}')).toBe(10);
  // MAIL is always negotiated, so the sender reaches the rules and the answer lines.
  expect(counter(final, 'floodgate_events_total{stage="mail"}')).toBe(77);
  // Under any flood the number of series stays what the configuration makes it.
  expect(final).not.toContain(FLOODER);
  expect(final).not.toContain('example.org');
});
