// Fault (issue 19): the LevelDB directory damaged while Floodgate is down, mail still arriving through
// a real Postfix. The service must refuse to start with the directory and the way out, exit with the
// code the unit's RestartPreventExitStatus= names (no restart loop), leave the files as they were for
// `floodgate repair`, and after the repair come back with the scores LevelDB could recover.
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, floodgateCli, startFloodgateProcess, type FloodgateProcess } from '../support/floodgate-process';
import { acceptedButMissing, startMailLoad, tally, onePointPerRecipient } from '../support/mail-load';
import type { PostfixRig } from '../support/postfix-rig';
import { runCommand, waitFor } from '../support/processes';
import type { SmtpSink } from '../support/smtp-sink';
import { parseUnit } from '../support/systemd-unit';
import { startFloodgateBehindPostfix, stopFloodgateBehindPostfix, type FloodgateBehindPostfix } from '../support/floodgate-behind-postfix';

jest.setTimeout(90_000);

const dir = mkdtempSync(join(tmpdir(), 'fg-fault-damage-'));
const scores = join(dir, 'state', 'scores');
const FLOODER = '192.0.2.121';
const NORMAL = '192.0.2.122';
const UNIT = join(__dirname, '..', '..', 'packaging', 'debian', 'floodgate.service');
const RULES = onePointPerRecipient(60);

let sink: SmtpSink;
let postfix: PostfixRig;
let floodgate: FloodgateProcess;
let configFile: string;

let rig: FloodgateBehindPostfix;

beforeAll(async () => {
  writeFileSync(join(dir, 'rules.yml'), RULES);
  rig = await startFloodgateBehindPostfix(dir, 'rules: rules.yml\nhttp: { listen: "off" }\ntracking: { backend: "off" }\n');
  ({ sink, postfix, floodgate, configFile } = rig);
});

afterAll(() => stopFloodgateBehindPostfix(rig, dir));

/** Checksums of LevelDB's data files; LOG, LOG.old and LOCK are its diary and lock, rewritten by every open attempt. */
function dataFiles(at: string): Record<string, string> {
  const sums: Record<string, string> = {};
  for (const name of readdirSync(at)) {
    if (!['LOG', 'LOG.old', 'LOCK'].includes(name)) sums[name] = createHash('sha256').update(readFileSync(join(at, name))).digest('hex');
  }
  return sums;
}

function flooderScore(shown: string): number {
  const m = new RegExp(`ip:${FLOODER.replace(/\./g, '\\.')}\\s+(\\d+\\.\\d+)`).exec(shown);
  if (!m) throw new Error(`no score for ${FLOODER} in:\n${shown}`);
  return Number(m[1]);
}

test('a truncated MANIFEST and a torn log: refused with the way out, no restart loop, evidence kept, repaired with the scores', async () => {
  // The flooder until its first 451 (above 60 points), the normal client throughout.
  const load = startMailLoad(postfix.smtpPort, [{ ip: FLOODER, concurrency: 3 }, { ip: NORMAL, concurrency: 1, pauseMs: 100 }], 'damage');
  await waitFor(() => load.messages.some((m) => m.ip === FLOODER && m.rcptCode === 451), 30_000, () => `the flooder's first 451: ${JSON.stringify(tally(load.messages))}`);
  await floodgate.stop(); // SIGTERM: every score is written, so the damage below is all there is
  const before = flooderScore((await floodgateCli('scores', 'show', `ip:${FLOODER}`, '--config', configFile)).stdout);
  expect(before).toBeGreaterThan(60);

  // The damage: the MANIFEST cut in half, and the log's last 64 bytes overwritten (a torn last write).
  const manifest = join(scores, readdirSync(scores).find((n) => n.startsWith('MANIFEST-'))!);
  truncateSync(manifest, Math.floor(statSync(manifest).size / 2));
  const log = join(scores, readdirSync(scores).filter((n) => n.endsWith('.log')).sort().pop()!);
  const fd = openSync(log, 'r+');
  writeSync(fd, Buffer.alloc(64, 0x5a), 0, 64, Math.max(0, statSync(log).size - 64));
  closeSync(fd);
  const damaged = dataFiles(scores);

  // Two starts, as a supervisor would try: each refuses with the directory and the way out.
  const downFrom = load.messages.length;
  for (let attempt = 1; attempt <= 2; attempt++) {
    const start = await runCommand(process.execPath, [CLI, 'run', '--config', configFile], { timeoutMs: 20_000 });
    expect(start.code).toBe(65);
    expect(start.stderr).toContain(`the LevelDB directory ${scores} is damaged (Corruption:`);
    expect(start.stderr).toContain(`Run "floodgate repair"`);
    expect(start.stderr).toContain(`or move ${scores} aside to start with empty scores`);
    expect(dataFiles(scores)).toEqual(damaged);
  }
  // systemd would not restart after that exit code.
  expect(parseUnit(readFileSync(UNIT, 'utf8')).get('Service.RestartPreventExitStatus')?.join(' ').split(/\s+/)).toContain('65');

  // Meanwhile Postfix applies milter_default_action to the mail.
  await waitFor(() => load.messages.slice(downFrom).some((m) => m.ip === NORMAL && m.finalCode === 451), 20_000, 'a 451 for the normal client while Floodgate is down');

  const repair = await floodgateCli('repair', '--config', configFile);
  expect(repair.stderr).toBe('');
  expect(repair.code).toBe(0);
  const copy = /the damaged files are kept in (\S+)/.exec(repair.stdout)?.[1];
  expect(repair.stdout).toMatch(new RegExp(`^repaired ${scores}: \\d+ scores kept\\n`));
  expect(dataFiles(copy!)).toEqual(damaged);

  floodgate = await startFloodgateProcess(configFile);
  const after = flooderScore((await floodgateCli('scores', 'show', `ip:${FLOODER}`, '--config', configFile)).stdout);
  const restartedAt = Date.now();
  await waitFor(() => load.messages.some((m) => m.ip === NORMAL && m.startedAt > restartedAt && m.accepted), 20_000, 'the normal client accepted after the repair');
  await load.stop();
  // The torn last write held at most the last batch of changes: a few of the flooder's points.
  process.stdout.write(`fault-damaged-level: flooder ${before} points before, ${after} after the repair; outcomes ${JSON.stringify(tally(load.messages))}\n`);
  expect(after).toBeGreaterThan(before - 5);
  expect(load.messages.filter((m) => m.ip === FLOODER && m.startedAt > restartedAt && m.rcptCode === 250)).toEqual([]);
  await waitFor(() => acceptedButMissing(load.messages, sink.messages).length === 0, 30_000, 'every accepted message at the sink');
  expect(floodgate.log()).not.toMatch(/"level":"error"/);
});
