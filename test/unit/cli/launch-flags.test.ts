// Every launcher of the service passes the node flags of main.ts's #! line, and node accepts them.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

/** The flags after `node` in the #! line of the CLI entry point. */
function shebangFlags(): string[] {
  const match = /^#!\/usr\/bin\/env -S node((?: --[a-z0-9-]+(?:=\S+)?)*)\n/.exec(read('src/cli/main.ts'));
  if (match === null) throw new Error('src/cli/main.ts does not start with #!/usr/bin/env -S node [--flags]');
  return match[1]!.trim().split(' ');
}

describe('node flags of the floodgate launchers', () => {
  const flags = shebangFlags();

  test('the #! line caps the young generation and the old generation\'s growth (the memory target depends on both)', () => {
    expect(flags).toContain('--max-semi-space-size=8');
    expect(flags).toContain('--heap-growing-percent=20');
  });

  test("npm start passes the same flags", () => {
    const start = (JSON.parse(read('package.json')) as { scripts: { start: string } }).scripts.start;
    expect(start).toBe(`node ${flags.join(' ')} dist/cli/main.js run`);
  });

  test('the Debian wrapper /usr/bin/floodgate passes the same flags', () => {
    expect(read('packaging/debian/bin/floodgate')).toContain(`exec /usr/bin/node ${flags.join(' ')} /usr/lib/floodgate/dist/cli/main.js "$@"`);
  });

  test('this node accepts them', () => {
    const run = spawnSync(process.execPath, [...flags, '-e', 'process.exit(0)'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });
});
