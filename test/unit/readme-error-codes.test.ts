// Keeps the README's "Error codes" table and src/errors.ts in step, both ways.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES } from '../../src/errors';

test('the README lists exactly the error codes the code defines, with the same meaning', () => {
  const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
  const section = readme.split('## Error codes')[1]?.split('\n## ')[0] ?? '';
  const rows = [...section.matchAll(/^\| `(FG_ERR_[A-Z_]+)` \| (.+) \|$/gm)].map((m) => [m[1], m[2]]);
  expect(Object.fromEntries(rows)).toEqual(ERROR_CODES);
});
