// The `floodgate` command as a real child process: exit codes, start-up, SIGHUP reload, SIGTERM drain.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MtaClient } from '../support/mta-client';
import { freePort } from '../support/ports';

// Child processes start slowly on a loaded 2-core CI machine: allow more than jest's default 5 s.
jest.setTimeout(30_000);

const CLI = join(__dirname, '..', '..', 'dist', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'fg-cli-'));
const children: ChildProcess[] = [];

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm run test:full does)`);
});
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `floodgate run` as a tracked child; `logged` waits until its log shows a text. */
function startService(configFile: string) {
  const child = spawn(process.execPath, [CLI, 'run', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const logged = async (text: string) => {
    const deadline = Date.now() + 15_000;
    while (!stderr.includes(text)) {
      if (Date.now() > deadline) throw new Error(`"${text}" not logged; log so far:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { child, logged, log: () => stderr };
}

function cli(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, FLOODGATE_CONFIG: '' } });
}

test('--version, --help and usage errors have stable exit codes', () => {
  expect(cli('--version')).toMatchObject({ status: 0, stdout: expect.stringMatching(/^floodgate \d+\.\d+\.\d+\n$/) });
  expect(cli('--help')).toMatchObject({ status: 0, stdout: expect.stringContaining('Usage: floodgate') });
  expect(cli('frobnicate').status).toBe(64);
  expect(cli('run', '--no-such-flag').status).toBe(64);
});

test('a broken configuration exits 78 and names every problem with file:line:column', () => {
  const file = join(dir, 'broken.yml');
  writeFileSync(file, 'listen: inet:127.0.0.1:1\nlimits:\n  max_conections: 5\nlog:\n  level: loud\n');
  const result = cli('run', '--config', file);
  expect(result.status).toBe(78);
  expect(result.stderr).toContain(`${file}:3:3: unknown field "max_conections" in limits`);
  expect(result.stderr).toContain(`${file}:5:10: log.level must be one of`);
});

test('an unusable listen address exits 1 with FG_ERR_LISTEN', () => {
  const file = join(dir, 'relative.yml');
  writeFileSync(file, 'listen: unix:relative.sock\n');
  const result = cli('run', '-c', file);
  expect(result.status).toBe(1);
  expect(result.stderr).toContain('must be absolute');
});

test('run serves MTAs, survives a broken reload, applies a good one, and drains on SIGTERM', async () => {
  const port = await freePort();
  const file = join(dir, 'floodgate.yml');
  writeFileSync(file, `listen: inet:127.0.0.1:${port}\nhttp: { listen: "off" }\nlog:\n  format: json\n`);
  const { child, logged, log } = startService(file);
  await logged('"listening"');

  const mta = await MtaClient.open({ port });
  await mta.negotiate();
  mta.send('T');
  expect((await mta.reply()).code).toBe('c');

  writeFileSync(file, 'listen: [unclosed\n');
  child.kill('SIGHUP');
  await logged('reload failed, keeping the running configuration');
  expect(log()).toContain('FG_ERR_CONFIG');

  writeFileSync(file, `listen: inet:127.0.0.1:${port}\nhttp: { listen: "off" }\nlog:\n  level: debug\n`);
  child.kill('SIGHUP');
  await logged('configuration reloaded');
  mta.send('T');
  expect((await mta.reply()).code).toBe('c');
  await logged('"verdict":"continue"'); // debug level now logs routine decisions

  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  await logged('shutting down');
  mta.send('Q'); // the open session ends; the service then stops without waiting for the grace period
  expect(await exited).toBe(0);
  expect(log()).toContain('"stopped"');
});

describe('rules on the command line', () => {
  const fixtures = join(__dirname, '..', 'fixtures', 'rules');

  test('check-rules accepts the shipped rules and names each error of a broken file with its position', () => {
    expect(cli('check-rules')).toMatchObject({ status: 0, stdout: expect.stringContaining('OK: ') });
    const broken = join(fixtures, 'broken', 'duplicate-rule-name.yml');
    const result = cli('check-rules', broken);
    expect(result.status).toBe(78);
    expect(result.stderr).toContain(`${broken}:9:11: duplicate rule name "count"`);
  });

  test('check-rules --strict accepts every shipped example rules file', () => {
    const examples = join(__dirname, '..', '..', 'rules', 'examples');
    for (const file of readdirSync(examples).filter((f) => f.endsWith('.yml'))) {
      expect(cli('check-rules', join(examples, file), '--strict')).toMatchObject({ status: 0, stdout: expect.stringContaining('OK: ') });
    }
  });

  test('check-rules --strict exits 2 on warnings only', () => {
    const file = join(dir, 'warn.yml');
    writeFileSync(file, 'keys:\n  ip: { half_life: 10m }\n  sender: { half_life: 1h }\nrules:\n  - name: r\n    on: rcpt\n    add: { ip: 1 }\n');
    expect(cli('check-rules', file).status).toBe(0);
    const strict = cli('check-rules', file, '--strict');
    expect(strict.status).toBe(2);
    expect(strict.stdout).toMatch(/warning/);
  });

  test('simulate prints each decision with the key, score and rule behind it', () => {
    const result = cli('simulate', '--ip', '192.0.2.7', '--from', 'a@example.org', '--rcpt', 'b@example.com', '--count', '62', '--interval', '0');
    expect(result.status).toBe(0);
    const lines = result.stdout.split('\n').filter((l) => l.includes('rcpt'));
    expect(lines[0]).toMatch(/-> continue/);
    expect(lines[45]).toMatch(/-> delay 2s\s+ip:192\.0\.2\.7=46\.00 \(recipients; delay\)/);
    expect(lines[61]).toMatch(/-> tempfail 451 4\.7\.1\s+ip:192\.0\.2\.7=61\.00/);
    expect(cli('simulate').status).toBe(64);
  });

  test('a broken rules file on SIGHUP keeps the running rules', async () => {
    const port = await freePort();
    const rules = join(dir, 'live-rules.yml');
    writeFileSync(rules, readFileSync(join(__dirname, '..', '..', 'rules', 'default.yml'), 'utf8'));
    const file = join(dir, 'live.yml');
    writeFileSync(file, `listen: inet:127.0.0.1:${port}\nrules: live-rules.yml\nstate_dir: live-state\nhttp: { listen: "off" }\n`);
    const { child, logged, log } = startService(file);
    await logged('"listening"');
    writeFileSync(rules, 'keys: {}\nrules:\n  - name: x\n    on: rcpt\n    add: { nosuchclass: 1 }\n');
    child.kill('SIGHUP');
    await logged('reload failed, keeping the running configuration');
    expect(log()).toContain('live-rules.yml:5:');
    // The running rules still refuse a flooder: the milter keeps negotiating RCPT.
    const mta = await MtaClient.open({ port });
    const neg = await mta.negotiate();
    expect(neg.protocol & 0x8).toBe(0); // NORCPT not set: the default rules listen to RCPT
    mta.close();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
