// Tracking copies on a real file system: streamed, kept under each folder, cut at the cap, deleted, pruned.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CopyStore, type CopyEvents } from '../../../src/tracking/copy-store';

let dir: string;
const failures: Error[] = [];
const saved: Array<{ paths: readonly string[]; bytes: number; truncated: boolean }> = [];
const events: CopyEvents = { failed: (e) => failures.push(e), saved: (paths, bytes, truncated) => saved.push({ paths, bytes, truncated }) };
const store = (over: Partial<ConstructorParameters<typeof CopyStore>[0]> = {}) => new CopyStore({ dir, maxMessageBytes: 1000, maxTotalBytes: 1_000_000, keepMs: 86_400_000, ...over }, events);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fg-copies-'));
  failures.length = 0;
  saved.length = 0;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test('a copy is kept under every matching folder, stored once, nothing left in .incoming', async () => {
  const copy = store().begin();
  await copy.write(Buffer.from('Subject: hi\r\n\r\n'));
  await copy.write(Buffer.from('body\r\n'));
  const paths = await copy.keep(['customer-x', 'attachments'], '20261205T140233Z-4Xy1Z2abcD');
  expect(paths).toEqual([join(dir, 'customer-x', '20261205T140233Z-4Xy1Z2abcD.eml'), join(dir, 'attachments', '20261205T140233Z-4Xy1Z2abcD.eml')]);
  for (const p of paths) expect(readFileSync(p, 'utf8')).toBe('Subject: hi\r\n\r\nbody\r\n');
  expect(statSync(paths[0]!).ino).toBe(statSync(paths[1]!).ino);
  expect(statSync(paths[0]!).mode & 0o777).toBe(0o640);
  expect(readdirSync(join(dir, '.incoming'))).toEqual([]);
  expect(saved).toEqual([{ paths, bytes: 21, truncated: false }]);
});

test('a message over the cap is cut there and named -truncated', async () => {
  const copy = store({ maxMessageBytes: 10 }).begin();
  await copy.write(Buffer.from('0123456'));
  await copy.write(Buffer.from('789abcdef'));
  const [path] = await copy.keep(['big'], 'm1');
  expect(path).toBe(join(dir, 'big', 'm1-truncated.eml'));
  expect(readFileSync(path!, 'utf8')).toBe('0123456789');
});

test('a discarded copy leaves no file', async () => {
  const copy = store().begin();
  await copy.write(Buffer.from('x'));
  await copy.discard();
  expect(readdirSync(join(dir, '.incoming'))).toEqual([]);
  expect(await copy.keep(['late'], 'm')).toEqual([]);
  expect(existsSync(join(dir, 'late'))).toBe(false);
});

test('a folder that cannot be written reports the failure once per copy and never throws', async () => {
  writeFileSync(join(dir, 'blocked'), 'a file where the folder should be');
  const copy = store().begin();
  await copy.write(Buffer.from('x'));
  expect(await copy.keep(['blocked'], 'm')).toEqual([]);
  expect(failures).toHaveLength(1);
  const broken = new CopyStore({ dir: join(dir, 'blocked', 'below'), maxMessageBytes: 10, maxTotalBytes: 10, keepMs: 1 }, events);
  const lost = broken.begin();
  await lost.write(Buffer.from('y'));
  expect(await lost.keep(['a'], 'm')).toEqual([]);
  expect(failures.length).toBeGreaterThanOrEqual(2);
});

test('prune deletes copies past their age, then the oldest past the total, and old leftovers of a crash', async () => {
  const now = Date.now();
  const put = (folder: string, name: string, bytes: number, ageMs: number) => {
    mkdirSync(join(dir, folder), { recursive: true });
    writeFileSync(join(dir, folder, name), Buffer.alloc(bytes));
    const t = (now - ageMs) / 1000;
    utimesSync(join(dir, folder, name), t, t);
  };
  put('a', 'expired.eml', 10, 3 * 86_400_000);
  put('a', 'oldest.eml', 400, 3_600_000 * 5);
  put('b', 'middle.eml', 400, 3_600_000 * 4);
  put('b', 'newest.eml', 400, 3_600_000);
  put('.incoming', 'crashed.eml', 50, 3_600_000 * 2);
  put('.incoming', 'arriving.eml', 50, 1000);
  const removed = await store({ maxTotalBytes: 900, keepMs: 2 * 86_400_000 }).prune(now);
  expect(removed).toBe(3);
  expect(readdirSync(join(dir, 'a'))).toEqual([]);
  expect(readdirSync(join(dir, 'b')).sort()).toEqual(['middle.eml', 'newest.eml']);
  expect(readdirSync(join(dir, '.incoming'))).toEqual(['arriving.eml']);
});
