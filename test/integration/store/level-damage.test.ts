// Damaged LevelDB directories (issue 19): each kind of damage is refused with the way out, never
// opened as an empty database, and `repairLevelDirectory` recovers it while keeping a copy.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, truncateSync, unlinkSync, writeSync, closeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LevelStore } from '../../../src/store/level-store';
import { repairLevelDirectory } from '../../../src/store/level-repair';

// Writing 45,000 keys and repairing takes ~2 s on an idle machine; CI shares two cores with other suites.
jest.setTimeout(30_000);

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;
const KEYS = 5000;
let root: string;
let dir: string;

/** A store with KEYS scores, closed: its records are in the log file, the format key in a table file. */
async function filledStore(): Promise<void> {
  const store = await LevelStore.open(dir);
  await store.addMany(Array.from({ length: KEYS }, (_, i) => ({ key: `ip:10.0.${i >> 8}.${i & 255}`, points: 1, halfLifeMs: HOUR })), T0);
  await store.close();
}

function file(pattern: RegExp): string {
  const name = readdirSync(dir).filter((n) => pattern.test(n)).sort((a, b) => statSync(join(dir, b)).size - statSync(join(dir, a)).size)[0];
  if (!name) throw new Error(`no file matching ${pattern} in ${dir}: ${readdirSync(dir).join(' ')}`);
  return join(dir, name);
}

function garble(path: string, at: number, length: number): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.alloc(length, 0xa5), 0, length, at);
  closeSync(fd);
}

/** Checksums of LevelDB's data files (LOG, LOG.old and LOCK are LevelDB's own diary and lock, rewritten by every open). */
function dataFiles(at = dir): Record<string, string> {
  const sums: Record<string, string> = {};
  for (const name of readdirSync(at)) {
    if (['LOG', 'LOG.old', 'LOCK'].includes(name)) continue;
    sums[name] = createHash('sha256').update(readFileSync(join(at, name))).digest('hex');
  }
  return sums;
}

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'fg-level-damage-'));
  dir = join(root, 'scores');
  await filledStore();
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

test.each([
  ['a truncated MANIFEST', () => truncateSync(file(/^MANIFEST-/), 10), /Corruption/],
  ['a garbled MANIFEST', () => garble(file(/^MANIFEST-/), 8, 40), /Corruption: checksum mismatch/],
  ['a CURRENT naming a missing MANIFEST', () => garble(join(dir, 'CURRENT'), 0, 8), /IO error: .*No such file or directory/],
  ['a lost CURRENT (LevelDB would start empty and delete the old files)', () => unlinkSync(join(dir, 'CURRENT')), /CURRENT is missing beside \d LevelDB file\(s\)/],
])('%s: FG_ERR_STORE_DAMAGED naming the directory and "floodgate repair", data files untouched; repair recovers every score', async (_, damage, reason) => {
  damage();
  const before = dataFiles();
  const error = await LevelStore.open(dir).then(() => undefined, (e: unknown) => e);
  expect(error).toMatchObject({ code: 'FG_ERR_STORE_DAMAGED' });
  expect((error as Error).message).toMatch(reason);
  expect((error as Error).message).toContain(`the LevelDB directory ${dir} is damaged`);
  expect((error as Error).message).toContain('Run "floodgate repair"');
  // A second start (systemd restarting) finds the same files: nothing was lost to the first.
  await expect(LevelStore.open(dir)).rejects.toMatchObject({ code: 'FG_ERR_STORE_DAMAGED' });
  expect(dataFiles()).toEqual(before);

  const result = await repairLevelDirectory(dir, new Date(T0));
  expect(result).toEqual({ directory: dir, copy: `${dir}.damaged-20260101T000000Z`, records: KEYS });
  expect(dataFiles(result.copy)).toEqual(before);
  const store = await LevelStore.open(dir);
  expect((await store.get('ip:10.0.19.135', T0))?.score).toBe(1);
  await store.close();
});

test('garbled table files: refused at open, repair keeps what the other files hold', async () => {
  // Enough keys for big table files; compact() writes them out before close (LevelDB turns its log
  // into a table on its own only past 4 MiB and when its background thread gets to it, which under
  // load was after close(): once in a CI run no table had been written).
  const store = await LevelStore.open(dir);
  for (let n = 0; n < 8; n++) {
    await store.addMany(Array.from({ length: 5000 }, (_, i) => ({ key: `sender:u${n}-${i}-${'x'.repeat(40)}@example.org`, points: 1, halfLifeMs: HOUR })), T0);
  }
  await store.compact();
  await store.close();
  const tables = readdirSync(dir).filter((n) => n.endsWith('.ldb')).map((n) => join(dir, n));
  expect(tables.filter((p) => statSync(p).size > 100_000).length).toBeGreaterThan(0); // the records reached table files
  // Every block of every table overwritten, only the 48-byte footer left. Partial damage was not
  // enough for a deterministic test: a table holds record and index entries in key order and may be
  // damaged only where the index entries are, which the open's scan of the records never reads; and
  // a big table may be the unfinished output of a compaction cut short by close(), which LevelDB
  // deletes as obsolete on open while the live tables it was merging stay intact.
  for (const table of tables) garble(table, 0, Math.max(0, statSync(table).size - 48));
  await expect(LevelStore.open(dir)).rejects.toMatchObject({ code: 'FG_ERR_STORE_DAMAGED', message: expect.stringMatching(/Corruption|Invalid argument/) });
  const result = await repairLevelDirectory(dir, new Date(T0));
  expect(result.records).toBeLessThan(KEYS + 8 * 5000);
  await (await LevelStore.open(dir)).close();
});

test('a garbled log file: LevelDB skips the damaged records on open, and the store says so', async () => {
  garble(file(/\.log$/), 30_000, 4096);
  const store = await LevelStore.open(dir);
  expect(store.droppedOnOpen.length).toBeGreaterThan(0);
  expect(store.droppedOnOpen[0]).toMatch(/^\(ignoring error\) .*\.log: dropping \d+ bytes; Corruption/);
  expect(await store.size()).toBeLessThan(KEYS);
  await store.close();
});

test('an undamaged store reports nothing dropped', async () => {
  const store = await LevelStore.open(dir);
  expect(store.droppedOnOpen).toEqual([]);
  expect(await store.size()).toBe(KEYS);
  await store.close();
});

test('repair refuses a directory that a running store holds, and changes nothing', async () => {
  const store = await LevelStore.open(dir);
  await expect(repairLevelDirectory(dir)).rejects.toThrow(/is in use \(is floodgate running\?\); stop the service before "floodgate repair"/);
  expect(readdirSync(root)).toEqual(['scores']);
  await store.close();
  expect(existsSync(`${dir}.damaged`)).toBe(false);
});
