// Fault (issue 19): the Redis primary dies mid-flood and Redis Sentinel fails over to its replica,
// while mail flows through a real Postfix. Floodgate, pointed at the sentinels, must follow the
// switch, apply on_store_error only while no primary answers, and keep the flooder refused: the
// limit holds across the switch because the flooder's score was replicated.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FloodgateProcess } from '../support/floodgate-process';
import { acceptedButMissing, startMailLoad, tally, onePointPerRecipient } from '../support/mail-load';
import type { PostfixRig } from '../support/postfix-rig';
import { waitFor } from '../support/processes';
import { startRedis, startSentinels, type RedisServer, type SentinelGroup } from '../support/redis-rig';
import type { SmtpSink } from '../support/smtp-sink';
import { startFloodgateBehindPostfix, stopFloodgateBehindPostfix, type FloodgateBehindPostfix } from '../support/floodgate-behind-postfix';

jest.setTimeout(120_000);

const dir = mkdtempSync(join(tmpdir(), 'fg-fault-sentinel-'));
const FLOODER = '192.0.2.151';
const NORMAL = '192.0.2.152';
const LIMIT = 30;
const RULES = onePointPerRecipient(LIMIT);

let sink: SmtpSink;
let postfix: PostfixRig;
let floodgate: FloodgateProcess;
let primary: RedisServer;
let replica: RedisServer;
let sentinels: SentinelGroup;

let rig: FloodgateBehindPostfix;

beforeAll(async () => {
  primary = await startRedis();
  replica = await startRedis(['--replicaof', '127.0.0.1', String(primary.port)]);
  await waitFor(async () => (await replica.cli('INFO', 'replication')).includes('master_link_status:up'), 10_000, 'the replica in sync');
  // Three sentinels, quorum two: a failover needs a majority, as in production.
  sentinels = await startSentinels(primary, { count: 3, quorum: 2, downAfterMs: 1000 });
  writeFileSync(join(dir, 'rules.yml'), RULES);
  const settings = [
    'rules: rules.yml', 'on_store_error: tempfail',
    'store:', '  backend: redis', '  timeout: 500ms', '  redis:',
    `    url: [${sentinels.urls.map((u) => `"${u}"`).join(', ')}]`, '    sentinel: { name: mymaster }', '    connect_timeout: 1s',
    'http: { listen: "off" }', 'tracking: { backend: "off" }', '',
  ].join('\n');
  rig = await startFloodgateBehindPostfix(dir, settings);
  ({ sink, postfix, floodgate } = rig);
});

afterAll(async () => {
  await sentinels?.destroy();
  await Promise.all([primary?.destroy(), replica?.destroy()]);
  await stopFloodgateBehindPostfix(rig, dir);
});

test('Sentinel failover mid-flood: on_store_error only during the switch, the flooder stays refused, mail flows after', async () => {
  const load = startMailLoad(postfix.smtpPort, [{ ip: FLOODER, concurrency: 2 }, { ip: NORMAL, concurrency: 1, pauseMs: 100 }], 'sentinel');
  await waitFor(() => load.messages.some((m) => m.ip === FLOODER && m.rcptCode === 451), 30_000, () => `the flooder over the limit: ${JSON.stringify(tally(load.messages))}`);
  const key = `floodgate:{ip:${FLOODER}}`;
  await waitFor(async () => Number(await replica.cli('HGET', key, 's')) > LIMIT, 5000, 'the flooder\'s score replicated');

  const killedAt = Date.now();
  primary.process.child.kill('SIGKILL');
  await waitFor(async () => (await sentinels.primaryPort()) === replica.port, 30_000, 'the sentinels to promote the replica');
  const promotedAt = Date.now();
  await waitFor(() => load.messages.some((m) => m.ip === NORMAL && m.startedAt > promotedAt && m.accepted), 30_000,
    () => `the normal client accepted after the failover: ${JSON.stringify(tally(load.messages.filter((m) => m.startedAt > promotedAt)))}\n${floodgate.log().slice(-3000)}`);
  await new Promise((r) => setTimeout(r, 1000));
  await load.stop();

  const afterKill = load.messages.filter((m) => m.startedAt > killedAt);
  // The limit holds: not one of the flooder's RCPTs is accepted after the primary died.
  expect(afterKill.filter((m) => m.ip === FLOODER && m.rcptCode === 250)).toEqual([]);
  expect(afterKill.filter((m) => m.ip === FLOODER && m.rcptCode === 451).length).toBeGreaterThan(0);
  expect(Number(await replica.cli('HGET', key, 's'))).toBeGreaterThan(LIMIT);
  // While no primary answered, on_store_error (tempfail) answered the normal client too; then it flowed again.
  for (const outcome of Object.keys(tally(load.messages))) expect(outcome).toMatch(/^(250@endOfData|451@rcpt)$/);
  await waitFor(() => acceptedButMissing(load.messages, sink.messages).length === 0, 30_000, 'every accepted message at the sink');
  const log = floodgate.log();
  // Logged once each way, not once per reconnection attempt while the sentinels still named the dead primary.
  expect(log.split('"message":"score store: Redis connection lost, reconnecting"').length - 1).toBe(1);
  expect(log.split('"message":"score store: Redis connection ready again"').length - 1).toBe(1);
  expect(log.split('"message":"score store failed, applying on_store_error"').length - 1).toBe(1);
  const normalRefused = afterKill.filter((m) => m.ip === NORMAL && m.rcptCode === 451);
  const lastRefusal = Math.max(...normalRefused.map((m) => m.rcptAt ?? 0), killedAt);
  process.stdout.write(`fault-redis-failover: promotion ${promotedAt - killedAt} ms after SIGKILL of the primary; normal client refused (on_store_error) ${normalRefused.length} times, last ${lastRefusal - killedAt} ms after the kill; flooder 0 accepted of ${afterKill.filter((m) => m.ip === FLOODER).length} after the kill; outcomes ${JSON.stringify(tally(load.messages))}\n`);
});
