// LevelStore on a filesystem that fills up (issue 19), on a real 8 MiB tmpfs mounted by the test as root:
// the failures LevelDB keeps until reopened (a table file it could not write) must end once there is
// room again, and nothing answered before or after may be missing after a restart.
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LevelStore } from '../../../src/store/level-store';
import { runCommand } from '../../support/processes';

jest.setTimeout(60_000);

const HOUR = 3_600_000;
const T0 = Date.now();
const root = mkdtempSync(join(tmpdir(), 'fg-level-full-'));
const mountPoint = join(root, 'tmpfs');
const filler = join(mountPoint, 'filler');
let mounted = false;
/** Open stores, closed before the unmount even when the test failed (an open LevelDB keeps the mount busy). */
const open: LevelStore[] = [];

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('this test mounts a tmpfs: run it as root (CI does)');
  mkdirSync(mountPoint);
  const mount = await runCommand('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mountPoint]);
  if (mount.code !== 0) throw new Error(`mount -t tmpfs failed (${mount.code}): ${mount.stderr}`);
  mounted = true;
});

afterAll(async () => {
  await Promise.all(open.map((s) => s.close().catch(() => undefined)));
  if (mounted) await runCommand('umount', [mountPoint]);
  rmSync(root, { recursive: true, force: true });
});

const key = (n: number): string => `sender:user${n}-${'x'.repeat(30)}@example.org`;

test('a table file LevelDB could not write: writes resume once there is room (the database is reopened), every answered score kept', async () => {
  // 5,000 KiB left: the 4 MiB log fits, the table its memory is then written to does not, so the
  // background write fails (LevelDB keeps that error) and then the log's own write fails.
  const fd = openSync(filler, 'w');
  writeSync(fd, Buffer.alloc(8 * 1024 * 1024 - 5000 * 1024, 1));
  closeSync(fd);
  const store = await LevelStore.open(join(mountPoint, 'scores'), { retryMs: 100 });
  open.push(store);
  let answered = 0;
  for (;; answered++) {
    try {
      await store.add(key(answered), 1, HOUR, T0);
    } catch (error) {
      expect(error).toMatchObject({ code: 'FG_ERR_STORE_UNAVAILABLE', message: expect.stringMatching(/No space left on device/) });
      break;
    }
    if (answered > 200_000) throw new Error('the tmpfs never filled');
  }
  // Calls fail while the batch cannot be written (on_store_error applies in the service).
  await new Promise((r) => setTimeout(r, 500));
  await expect(store.add('ip:192.0.2.1', 1, HOUR, T0)).rejects.toMatchObject({ code: 'FG_ERR_STORE_UNAVAILABLE' });

  unlinkSync(filler);
  // Retries every 100 ms, the third in a row reopening LevelDB: writes go through again within a second or two.
  const resumedBy = Date.now() + 10_000;
  for (;;) {
    try {
      await store.add('ip:192.0.2.2', 1, HOUR, T0);
      break;
    } catch (error) {
      if (Date.now() > resumedBy) throw new Error(`writes did not resume after the space was freed: ${(error as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  for (let n = 0; n < 100; n++) await store.add(`ip:192.0.2.${10 + n}`, 1, HOUR, T0);
  await store.close();

  const reopened = await LevelStore.open(join(mountPoint, 'scores'));
  open.push(reopened);
  expect(reopened.droppedOnOpen).toEqual([]);
  expect(await reopened.size()).toBe(answered + 1 + 100);
  expect((await reopened.get(key(answered - 1), T0))?.score).toBe(1);
  expect((await reopened.get('ip:192.0.2.109', T0))?.score).toBe(1);
  process.stdout.write(`level-disk-full: ${answered} scores answered before the disk was full, all ${answered + 101} on disk after the restart\n`);
  await reopened.close();
});
