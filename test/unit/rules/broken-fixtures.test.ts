// Every file in test/fixtures/rules/broken/ states on line 1 the error it must produce and where.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ConfigError, formatProblem, type SourceProblem } from '../../../src/config/errors';
import { loadRuleSet } from '../../../src/rules/loader';

const DIR = join(__dirname, '..', '..', 'fixtures', 'rules', 'broken');
/** `# expect: [other-file:]line:column fragment`; other-file names a list file the error is in. */
const EXPECT = /^# expect: (?:([\w.-]+):)?(\d+):(\d+) (.+)$/;

const cases = readdirSync(DIR)
  .filter((f) => f.endsWith('.yml'))
  .sort()
  .map((name) => {
    const header = readFileSync(join(DIR, name), 'utf8').split('\n')[0];
    const m = EXPECT.exec(header);
    if (!m) throw new Error(`${name}: line 1 must be "# expect: line:column fragment"`);
    return { name, file: m[1] ?? name, line: Number(m[2]), column: Number(m[3]), fragment: m[4] };
  });

function problemsOf(file: string): SourceProblem[] {
  try {
    loadRuleSet(file);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('FG_ERR_CONFIG');
    return [...(error as ConfigError).problems];
  }
  throw new Error(`${file} was accepted`);
}

test('there is a broken file for each error kind (at least 12)', () => {
  expect(cases.length).toBeGreaterThanOrEqual(12);
});

test.each(cases)('$name: $fragment at $line:$column', ({ name, file, line, column, fragment }) => {
  const problems = problemsOf(join(DIR, name));
  const found = problems.find((p) => basename(p.file) === file && p.line === line && p.column === column && p.message.includes(fragment));
  if (!found) throw new Error(`expected ${file}:${line}:${column} "${fragment}", got:\n${problems.map(formatProblem).join('\n')}`);
  // One mistake, one message: a cascade of follow-on errors would bury the real one.
  expect(problems.map(formatProblem)).toEqual([formatProblem(found)]);
});
