// Tracking into a real PostgreSQL through real Postfix, with the server stopped in the middle: mail
// keeps flowing, the records that could not be written are counted, and writing resumes when the
// server is back.
import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TrackingRecord } from '../../src/tracking/tracking-record';
import { floodgateCli, type FloodgateProcess } from '../support/floodgate-process';
import { freePort } from '../support/ports';
import type { PostfixRig } from '../support/postfix-rig';
import { startPostgres, type PostgresServer } from '../support/postgres-rig';
import { waitFor } from '../support/processes';
import { sendMail } from '../support/smtp-client';
import { startFloodgateBehindPostfix, stopFloodgateBehindPostfix, type FloodgateBehindPostfix } from '../support/floodgate-behind-postfix';

jest.setTimeout(180_000);

const dir = mkdtempSync(join(tmpdir(), 'fg-tracking-pg-'));
const config = join(dir, 'floodgate.yml');
let postfix: PostfixRig;
let postgres: PostgresServer;
let floodgate: FloodgateProcess;
let httpPort: number;

let rig: FloodgateBehindPostfix;

beforeAll(async () => {
  postgres = await startPostgres();
  httpPort = await freePort();
  rig = await startFloodgateBehindPostfix(dir, `http: { listen: "127.0.0.1:${httpPort}" }\ntracking: { backend: postgres, url: "${postgres.url}" }\n`);
  ({ postfix, floodgate } = rig);
});

afterAll(async () => {
  await stopFloodgateBehindPostfix(rig, dir);
  await postgres?.destroy();
});

function metric(series: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: httpPort, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.once('end', () => {
        const line = body.split('\n').find((l) => l.startsWith(`${series} `));
        resolve(line ? Number(line.slice(series.length + 1)) : 0);
      });
    });
    req.once('error', reject);
    req.end();
  });
}

async function send(n: number): Promise<boolean> {
  const result = await sendMail(postfix.smtpPort, { helo: 'mail.example.org', xclient: `ADDR=192.0.2.${100 + (n % 50)} NAME=mail.example.org`, from: `s${n}@example.org`, rcpts: [`r${n}@example.com`] });
  return result.accepted;
}

async function tracked(): Promise<TrackingRecord[]> {
  const result = await floodgateCli('track', '--json', '--limit', '1000', '--config', config);
  if (result.code !== 0) throw new Error(`floodgate track: ${result.code} ${result.stderr}`);
  return (JSON.parse(result.stdout) as TrackingRecord[]).filter((r) => r.queueId !== undefined);
}

test('PostgreSQL stopped mid-run: mail flows, lost records are counted, writing resumes', async () => {
  for (let n = 1; n <= 5; n++) expect(await send(n)).toBe(true);
  await waitFor(async () => (await tracked()).length === 5, 10_000, 'five records in PostgreSQL');

  await postgres.stop();
  for (let n = 6; n <= 10; n++) expect(await send(n)).toBe(true); // the MTA never waits for the log
  await waitFor(async () => (await metric('floodgate_tracking_records_dropped_total{reason="database error"}')) >= 5, 15_000, 'the lost records counted');
  await waitFor(() => floodgate.log().includes('tracking database failed'), 5_000, 'the failure logged');

  await postgres.start();
  for (let n = 11; n <= 15; n++) expect(await send(n)).toBe(true);
  await waitFor(async () => (await tracked()).length === 10, 20_000, 'the records sent after the restart');
  const senders = (await tracked()).map((r) => r.sender).sort();
  expect(senders).toEqual([1, 2, 3, 4, 5, 11, 12, 13, 14, 15].map((n) => `s${n}@example.org`).sort());
  expect(floodgate.log().split('\n').filter((l) => l.includes('tracking database failed'))).toHaveLength(1);
  await waitFor(() => floodgate.log().includes('tracking database answers again'), 5_000, 'the recovery logged');
  expect(await metric('floodgate_tracking_records_written_total')).toBeGreaterThanOrEqual(10);
});
