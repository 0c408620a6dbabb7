// check-rules (src/cli/check-rules.ts): exit codes a script can rely on, and what it prints where.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { checkRules, type CheckRulesOptions } from '../../../src/cli/check-rules';

const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'rules');

async function run(file: string, opts?: CheckRulesOptions): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const code = await checkRules(file, out, err, opts);
  return { code, out: String(out.read() ?? ''), err: String(err.read() ?? '') };
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'floodgate-check-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function rulesFile(text: string): string {
  const file = join(dir, 'rules.yml');
  writeFileSync(file, text);
  return file;
}

test('a valid file: a summary, each delay with its effective value and the MTA timeout; exit 0', async () => {
  const file = join(FIXTURES, 'valid', 'full.yml');
  expect(await run(file)).toEqual({
    code: 0,
    out: `OK: 5 rules, 3 key classes, 7 thresholds; events: connect, mail, rcpt\n${file}:53:7: delay ip above 30: effective 2s (max_delay 25s), MTA timeout 30s\n`,
    err: '',
  });
});

const LONG_DELAY = 'keys: { ip: { half_life: 1m } }\nrules:\n  - { name: count, on: connect, add: { ip: 1 } }\nthresholds:\n  ip:\n    - { above: 5, delay: 45s }\n';

test('warnings are printed after the summary and still exit 0', async () => {
  const file = rulesFile(LONG_DELAY);
  expect(await run(file)).toEqual({
    code: 0,
    out: [
      'OK: 1 rules, 1 key classes, 1 thresholds; events: connect',
      `${file}:6:7: delay ip above 5: effective 25s (max_delay 25s), MTA timeout 30s`,
      `${file}:6:26: warning: delay 45s exceeds max_delay 25s, it will be cut to 25s`,
      '',
    ].join('\n'),
    err: '',
  });
});

test('with strict, warnings exit 2', async () => {
  expect((await run(rulesFile(LONG_DELAY), { strict: true })).code).toBe(2);
});

test('strict without warnings still exits 0', async () => {
  expect((await run(join(FIXTURES, 'valid', 'full.yml'), { strict: true })).code).toBe(0);
});

test('the MTA timeout and max_delay options are used for the report', async () => {
  const { code, out } = await run(rulesFile(LONG_DELAY), { mtaTimeoutMs: 10_000, maxDelayMs: 8_000 });
  expect(code).toBe(0);
  expect(out).toContain(': delay ip above 5: effective 8s (max_delay 8s), MTA timeout 10s\n');
});

test('errors: one per line on stderr as file:line:column: message, nothing on stdout, exit 78', async () => {
  const file = rulesFile('keys: { ip: { half_life: 1m } }\nrules:\n  - { name: a, on: connect, add: { ip: 1, sender: 2 } }\n  - { name: a, on: helo, add: { ip: 1 } }\n');
  expect(await run(file)).toEqual({
    code: 78,
    out: '',
    err: `${file}:3:43: key class "sender" is not declared in keys\n${file}:4:13: duplicate rule name "a" (first used at line 3)\n`,
  });
});

test('a broken fixture exits 78 with its one error', async () => {
  const { code, err } = await run(join(FIXTURES, 'broken', 'unknown-field.yml'));
  expect(code).toBe(78);
  expect(err).toMatch(/unknown-field\.yml:6:5: unknown field "adds" in rules\.0\n$/);
});

test('an unreadable file exits 78', async () => {
  const { code, err } = await run(join(dir, 'missing.yml'));
  expect(code).toBe(78);
  expect(err).toBe(`${join(dir, 'missing.yml')}:0:0: cannot read: ENOENT\n`);
});

test('an empty rule set loads, with its warning', async () => {
  const file = rulesFile('# nothing yet\n');
  expect(await run(file)).toEqual({ code: 0, out: `OK: 0 rules, 0 key classes, 0 thresholds; events: none\n${file}:1:1: warning: no rules: every message passes unchecked\n`, err: '' });
});
