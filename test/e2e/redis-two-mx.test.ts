// Two `floodgate run` services (two MX hosts) sharing one real redis-server: one shared limit, and outages survived.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Proto } from '../../src/milter/constants';
import { floodgateCli, startFloodgateProcess, type FloodgateProcess } from '../support/floodgate-process';
import { MtaClient } from '../support/mta-client';
import { freePort } from '../support/ports';
import { killAllTracked, waitFor } from '../support/processes';
import { startRedis, type RedisServer } from '../support/redis-rig';

jest.setTimeout(60_000);

const dir = mkdtempSync(join(tmpdir(), 'fg-redis-mx-'));
const LIMIT = 50;
const STORE_TIMEOUT_MS = 500;
const RULES = `
keys:
  ip: { half_life: 1h }
lists:
  trusted: { cidr: ["127.0.0.0/8"] }
rules:
  - name: trusted-networks
    on: connect
    when: { client_ip: { list: trusted } }
    ok: true
  - name: recipients
    on: rcpt
    add: { ip: 1 }
thresholds:
  ip:
    - above: ${LIMIT}
      tempfail: { code: "451", ext: "4.7.1", text: "Too much mail from your address" }
`;

let redis: RedisServer;
/** mx1 answers tempfail while Redis is down; mx2 counts locally. */
let mx1: { port: number; floodgate: FloodgateProcess };
let mx2: { port: number; floodgate: FloodgateProcess };

function writeConfig(name: string, port: number, policy: 'tempfail' | 'local'): string {
  const config = join(dir, `${name}.yml`);
  writeFileSync(config, [
    `listen: inet:127.0.0.1:${port}`, 'rules: rules.yml', `state_dir: ${name}-state`,
    `store: { backend: redis, timeout: ${STORE_TIMEOUT_MS}ms, redis: { url: "${redis.url}", key_prefix: "e2e:", connect_timeout: 1s } }`,
    `on_store_error: ${policy}`, 'http: { listen: "off" }', '',
  ].join('\n'));
  return config;
}

async function startMx(name: string, policy: 'tempfail' | 'local') {
  const port = await freePort();
  return { port, floodgate: await startFloodgateProcess(writeConfig(name, port, policy)) };
}

beforeAll(async () => {
  writeFileSync(join(dir, 'rules.yml'), RULES);
  redis = await startRedis();
  [mx1, mx2] = await Promise.all([startMx('mx1', 'tempfail'), startMx('mx2', 'local')]);
});
afterAll(async () => {
  await Promise.all([mx1?.floodgate.stop(), mx2?.floodgate.stop()]);
  await redis?.destroy();
  await killAllTracked();
  rmSync(dir, { recursive: true, force: true });
});

interface Answer {
  /** 'c' continue, 't' tempfail, 'y' a reply code ('y 451 ...'). */
  reply: string;
  ms: number;
}

/** One SMTP session with one recipient, as Postfix would send it, answered at RCPT. */
async function recipient(port: number, ip: string, n: number): Promise<Answer> {
  const mta = await MtaClient.open({ port });
  try {
    const { protocol } = await mta.negotiate();
    const step = async (skip: number, noReply: number, send: () => void): Promise<string | undefined> => {
      if (protocol & skip) return undefined;
      send();
      if (protocol & noReply) return undefined;
      const r = await mta.reply(10_000);
      return r.code === 'y' ? `y ${r.text}` : r.code;
    };
    await step(Proto.NOCONNECT, Proto.NR_CONN, () => mta.connectInfo('pc.customer.example', ip));
    await step(Proto.NOHELO, Proto.NR_HELO, () => mta.send('H', 'pc.customer.example\0'));
    await step(Proto.NOMAIL, Proto.NR_MAIL, () => mta.send('M', `<user${n}@example.org>\0`));
    const started = Date.now();
    const reply = await step(Proto.NORCPT, Proto.NR_RCPT, () => mta.send('R', `<friend${n}@example.com>\0`));
    const ms = Date.now() - started;
    mta.send('Q');
    return { reply: reply ?? 'none', ms };
  } finally {
    mta.close();
  }
}

/** `total` recipients from one IP, alternating between the two MX hosts, `parallel` sessions at a time. */
async function flood(ip: string, total: number, parallel = 8): Promise<Answer[]> {
  const answers: Answer[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < total) {
      const n = next++;
      answers[n] = await recipient(n % 2 === 0 ? mx1.port : mx2.port, ip, n);
    }
  }));
  return answers;
}

const accepted = (answers: Answer[]): number => answers.filter((a) => a.reply === 'c').length;
const occurrences = (log: string, text: string): number => log.split(text).length - 1;

test('a flood split across both MX hosts is limited at exactly the configured total, not twice it', async () => {
  const answers = await flood('192.0.2.10', 2 * LIMIT + 30);
  expect(accepted(answers)).toBe(LIMIT);
  expect(answers.filter((a) => a.reply.startsWith('y 451 4.7.1 Too much mail')).length).toBe(LIMIT + 30);
  // Both hosts refused some: they share the count rather than each allowing LIMIT.
  expect(answers.filter((a, n) => n % 2 === 0 && a.reply !== 'c').length).toBeGreaterThan(0);
  expect(answers.filter((a, n) => n % 2 === 1 && a.reply !== 'c').length).toBeGreaterThan(0);
  // One shared score in Redis: the limit plus the point that crossed it (refused traffic adds no more), barely decayed.
  const score = Number(await redis.cli('--raw', 'hget', 'e2e:{ip:192.0.2.10}', 's'));
  expect(score).toBeGreaterThan(LIMIT);
  expect(score).toBeLessThanOrEqual(LIMIT + 1);

  // The operator's view is the shared one: `scores top` from a host with no service running reads
  // Redis directly; a reset through mx1's admin socket lets the client through on mx2 at once.
  const top = await floodgateCli('scores', 'top', '--class', 'ip', '-n', '5', '--config', writeConfig('operator', 1, 'tempfail'));
  expect(top).toMatchObject({ code: 0, stdout: expect.stringMatching(/ip:192\.0\.2\.10\s+5[01]\.\d\d/) });
  const reset = await floodgateCli('scores', 'reset', 'ip:192.0.2.10', '--config', join(dir, 'mx1.yml'));
  expect(reset).toMatchObject({ code: 0, stdout: 'reset ip:192.0.2.10\n' });
  expect((await recipient(mx2.port, '192.0.2.10', 999)).reply).toBe('c');
});

test('Redis stopped mid-flood: each host answers its policy within the store timeout; restarted, scoring resumes', async () => {
  expect(accepted(await flood('192.0.2.20', 10))).toBe(10);
  await redis.stop();
  const [onMx1, onMx2] = await Promise.all([
    Promise.all(Array.from({ length: 10 }, (_, n) => recipient(mx1.port, '192.0.2.20', 100 + n))),
    Promise.all(Array.from({ length: 10 }, (_, n) => recipient(mx2.port, '192.0.2.20', 200 + n))),
  ]);
  expect(onMx1.map((a) => a.reply)).toEqual(Array(10).fill('t')); // on_store_error: tempfail
  expect(onMx2.map((a) => a.reply)).toEqual(Array(10).fill('c')); // on_store_error: local (10 of its own 50)
  for (const a of [...onMx1, ...onMx2]) expect(a.ms).toBeLessThan(STORE_TIMEOUT_MS + 500);
  // mx2 limits on its own share while Redis is away: its local count reaches the limit too.
  expect(accepted(await Promise.all(Array.from({ length: LIMIT + 10 }, (_, n) => recipient(mx2.port, '192.0.2.21', 300 + n))))).toBe(LIMIT);

  await redis.restart();
  await redis.cli('config', 'resetstat');
  // Both services reconnect by themselves (ioredis retries at most a second apart).
  for (const mx of [mx1, mx2]) await waitFor(() => mx.floodgate.log().includes('Redis connection ready again'), 10_000, 'both services to reconnect');
  await waitFor(async () => (await recipient(mx1.port, '192.0.2.22', 400)).reply === 'c', 10_000, 'mx1 to score in Redis again');
  await waitFor(async () => {
    await recipient(mx2.port, '192.0.2.23', 401);
    return mx2.floodgate.log().includes('score store answers again, local counts dropped');
  }, 10_000, 'mx2 to go back to Redis');
  // The new server had no scripts: they were loaded again, and the shared limit holds again.
  expect(accepted(await flood('192.0.2.24', LIMIT + 20))).toBe(LIMIT);
  expect(await redis.cli('info', 'commandstats')).toMatch(/cmdstat_eval:calls=[1-9]/);

  // Each change of state was logged once, not once per message; neither service died.
  for (const mx of [mx1, mx2]) expect(occurrences(mx.floodgate.log(), 'Redis connection lost')).toBe(1);
  // Regression: an allow-list hit at connect never reaches the store and must not count as recovery.
  expect(occurrences(mx1.floodgate.log(), 'score store failed, applying on_store_error')).toBe(1);
  expect(occurrences(mx1.floodgate.log(), 'score store answers again')).toBe(1);
  expect(occurrences(mx2.floodgate.log(), 'counting locally until it answers')).toBe(1);
  expect(occurrences(mx2.floodgate.log(), 'score store answers again, local counts dropped')).toBe(1);
  expect(mx1.floodgate.process.child.exitCode).toBeNull();
  expect(mx2.floodgate.process.child.exitCode).toBeNull();
});

test('SCRIPT FLUSH mid-flood is survived: NOSCRIPT re-sends the script and the limit still holds', async () => {
  await redis.cli('config', 'resetstat');
  const first = await flood('192.0.2.30', 20);
  await redis.cli('script', 'flush');
  const rest = await flood('192.0.2.30', LIMIT + 10);
  expect(accepted([...first, ...rest])).toBe(LIMIT);
  expect(await redis.cli('info', 'errorstats')).toMatch(/errorstat_NOSCRIPT:count=[1-9]/);
});
