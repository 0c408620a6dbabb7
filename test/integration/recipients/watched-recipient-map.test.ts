// WatchedRecipientMap against real files: reloads on change (list, and maps rebuilt by the real postmap), keeps the old map on a broken one.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CompiledMapType, RecipientMapSpec } from '../../../src/recipients/map-source';
import { RecipientMapError } from '../../../src/recipients/recipient-map';
import { WatchedRecipientMap, type RecipientMapLoad } from '../../../src/recipients/watched-recipient-map';

const INTERVAL_MS = 100;
/** Far beyond two polls plus a postmap run; only a broken watcher waits this long. */
const PATIENCE_MS = 5_000;
const quiet = { stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'] };

/**
 * An empty main.cf: postmap refuses to run without one, and /etc/postfix has none on a test
 * machine. Dated an hour back because Postfix waits (up to 2 s) while main.cf looks freshly written.
 */
function emptyMainCf(at: string): void {
  const file = join(at, 'main.cf');
  writeFileSync(file, '');
  const hourAgo = new Date(Date.now() - 3_600_000);
  utimesSync(file, hourAgo, hourAgo);
}

let dir: string;
const open: WatchedRecipientMap[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fg-watched-map-'));
  emptyMainCf(dir);
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((w) => w.close()));
  rmSync(dir, { recursive: true, force: true });
});
const SUPPORTED = (() => {
  const probe = mkdtempSync(join(tmpdir(), 'fg-watched-probe-'));
  emptyMainCf(probe);
  const types = new Set(execFileSync('postconf', ['-c', probe, '-m'], quiet).toString().split('\n'));
  rmSync(probe, { recursive: true, force: true });
  return types;
})();

/** A watcher whose reloads and errors arrive as promises, closed after each test. */
function watch(spec: RecipientMapSpec) {
  const reloads: RecipientMapLoad[] = [];
  const errors: RecipientMapError[] = [];
  const watched = new WatchedRecipientMap(spec, { intervalMs: INTERVAL_MS, onReload: (l) => reloads.push(l), onError: (e) => errors.push(e) });
  open.push(watched);
  return { watched, reloads, errors };
}

async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + PATIENCE_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function write(name: string, content: string): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}

/** Like an editor: write a copy and rename it over the original, so the inode changes. */
function replace(file: string, content: string): void {
  writeFileSync(`${file}.tmp`, content);
  renameSync(`${file}.tmp`, file);
}

test('start loads the map and reports what it loaded', async () => {
  const { watched, reloads } = watch({ type: 'list', path: write('list', 'joe@example.com\nadmin\n') });
  expect(watched.isKnown('joe@example.com')).toBeUndefined(); // judges nothing before the first load
  const load = await watched.start();
  expect(load).toEqual({ entries: 2, ms: expect.any(Number), warnings: [] });
  expect(watched.isKnown('joe@example.com')).toBe(true);
  expect(watched.current.size).toBe(2);
  expect(reloads).toEqual([]); // onReload is for reloads, start() returns its own load
});

test.each([
  ['rewritten in place', (file: string, content: string) => writeFileSync(file, content)],
  ['replaced by rename (a new inode)', replace],
])('a list file %s is reloaded', async (_name, change) => {
  const path = write('list', 'joe@example.com\n');
  const { watched, reloads, errors } = watch({ type: 'list', path });
  await watched.start();
  change(path, 'joe@example.com\nann@example.com\n');
  await until('the reload', () => reloads.length === 1);
  expect(reloads[0]).toEqual({ entries: 2, ms: expect.any(Number), warnings: [] });
  expect(watched.isKnown('ann@example.com')).toBe(true);
  expect(errors).toEqual([]);
});

describe.each(['hash', 'lmdb', 'cdb'] as const)('%s map rebuilt by the real postmap', (type: CompiledMapType) => {
  const available = SUPPORTED.has(type);
  // Under CI the packages are installed (scripts/install-test-deps.sh): a missing one fails there.
  const testIf = available || process.env.CI ? test : test.skip;
  const suffix = available ? '' : ` (SKIPPED: this Postfix has no ${type} support; install postfix-${type})`;

  testIf(`is reloaded${suffix}`, async () => {
    const path = write('virtual', 'joe@example.com ok\n');
    const build = () => execFileSync('/usr/sbin/postmap', ['-c', dir, `${type}:${path}`], quiet);
    build();
    const { watched, reloads, errors } = watch({ type, path, configDir: dir });
    await watched.start();
    expect(watched.isKnown('ann@example.com')).toBe(false);
    writeFileSync(path, 'joe@example.com ok\nann@example.com ok\n');
    await sleep(3 * INTERVAL_MS);
    expect(reloads).toEqual([]); // the source changed, but Postfix reads the compiled file: so do we
    build();
    await until('the reload', () => reloads.length === 1);
    expect(watched.isKnown('ann@example.com')).toBe(true);
    expect(errors).toEqual([]);
  });
});

test('a broken reload keeps the old map, is reported once, and a fixed file loads again', async () => {
  const path = write('virtual', 'joe@example.com ok\n');
  const { watched, reloads, errors } = watch({ type: 'text', path });
  await watched.start();
  replace(path, 'joe@example.com ok\nann@example.com\n');
  await until('the error', () => errors.length === 1);
  expect(errors[0]).toBeInstanceOf(RecipientMapError);
  expect(errors[0].message).toBe(`${path}:2: expected format: key whitespace value, got "ann@example.com"`);
  expect(watched.isKnown('joe@example.com')).toBe(true);
  expect(watched.isKnown('ann@example.com')).toBe(false);
  await sleep(5 * INTERVAL_MS);
  expect(errors).toHaveLength(1); // the same broken file is not retried and re-reported every poll
  replace(path, 'joe@example.com ok\nann@example.com ok\n');
  await until('the reload', () => reloads.length === 1);
  expect(watched.isKnown('ann@example.com')).toBe(true);
});

test('a deleted file keeps the old map and reports the error', async () => {
  const path = write('list', 'joe@example.com\n');
  const { watched, errors } = watch({ type: 'list', path });
  await watched.start();
  unlinkSync(path);
  await until('the error', () => errors.length === 1);
  expect(errors[0].message).toBe(`cannot read recipient map ${path}: ENOENT`);
  expect(watched.isKnown('joe@example.com')).toBe(true);
});

test.each([
  ['a missing file', (): RecipientMapSpec => ({ type: 'list', path: join(dir, 'none') }), /ENOENT/],
  ['a syntax error', (): RecipientMapSpec => ({ type: 'list', path: write('bad', 'a b\n') }), /bad:1: /],
  ['a hash map never built', (): RecipientMapSpec => ({ type: 'hash', path: join(dir, 'virtual'), configDir: dir }), /virtual\.db: ENOENT \(was postmap run\?\)/],
])('start rejects with RecipientMapError on %s', async (_name, spec, message) => {
  const { watched } = watch(spec());
  await expect(watched.start()).rejects.toThrow(RecipientMapError);
  await expect(watched.start()).rejects.toThrow(message);
  expect(() => watched.current).toThrow(/before start/);
});

test('reload() loads at once, and on failure rejects and keeps the map', async () => {
  const path = write('list', 'joe@example.com\n');
  const { watched } = watch({ type: 'list', path, maxEntries: 2 });
  await watched.start();
  writeFileSync(path, 'joe@example.com\nann@example.com\n');
  expect((await watched.reload()).entries).toBe(2);
  expect(watched.isKnown('ann@example.com')).toBe(true);
  writeFileSync(path, 'a@example.com\nb@example.com\nc@example.com\n');
  await expect(watched.reload()).rejects.toThrow(/more than 2 entries/);
  expect(watched.isKnown('ann@example.com')).toBe(true);
});

test('after close() the file is no longer watched, and the timer never held the process', async () => {
  const path = write('list', 'joe@example.com\n');
  const { watched, reloads } = watch({ type: 'list', path });
  await watched.start();
  // Reads the private timer: whether it keeps the event loop alive is only visible on the Timeout itself.
  expect((watched as unknown as { timer: NodeJS.Timeout }).timer.hasRef()).toBe(false);
  await watched.close();
  replace(path, 'joe@example.com\nann@example.com\n');
  await sleep(4 * INTERVAL_MS);
  expect(reloads).toEqual([]);
  expect(watched.isKnown('ann@example.com')).toBe(false);
});
