// `floodgate repair`: keeps a copy of a damaged LevelDB directory, then lets LevelDB's own RepairDB recover what it can.
//
// RepairDB rebuilds the MANIFEST from the table and log files it can still read and moves the files
// it cannot into `lost/`; scores in damaged blocks are gone. The copy taken first keeps the evidence
// (for a bug report, or a second opinion) whatever the repair does.
import { Level } from 'level';
import { chown, copyFile, mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError } from './errors';
import { LevelStore } from './level-store';

/** classic-level's static repair(); the `level` package's types leave it out because browsers lack it. */
const repairDatabase = (Level as unknown as { repair(location: string): Promise<void> }).repair.bind(Level);

export interface RepairResult {
  directory: string;
  /** Where the damaged files were copied before the repair. */
  copy: string;
  /** Score records the repaired directory holds. */
  records: number;
}

/** Repairs `directory` in place; refuses while a running service holds it. */
export async function repairLevelDirectory(directory: string, now = new Date()): Promise<RepairResult> {
  const info = await stat(directory).catch(() => undefined);
  if (!info?.isDirectory()) throw new StoreError(`score store: ${directory} is not a directory; nothing to repair`);
  await refuseIfLocked(directory);
  const copy = `${directory}.damaged-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
  await copyDirectory(directory, copy, info.uid, info.gid);
  try {
    await repairDatabase(directory);
    // A repair run as root would leave root's files the service's user cannot open.
    await chownTree(directory, info.uid, info.gid);
    const store = await LevelStore.open(directory);
    try {
      return { directory, copy, records: await store.size() };
    } finally {
      await store.close();
    }
  } catch (error) {
    throw new StoreError(`score store: repairing ${directory} failed: ${(error as Error).message}. The damaged files are kept in ${copy}; move ${directory} aside to start with empty scores.`, { cause: error });
  }
}

/**
 * LevelDB takes its lock before it reads anything, so an open that is refused for the lock means a
 * running service; any other refusal is the damage itself. createIfMissing: false, or a directory
 * that lost its CURRENT would be taken for a new database.
 */
async function refuseIfLocked(directory: string): Promise<void> {
  const db = new Level<string, string>(directory, { createIfMissing: false });
  try {
    await db.open();
  } catch (error) {
    if ((error as { cause?: { code?: string } }).cause?.code === 'LEVEL_LOCKED') {
      throw new StoreError(`score store: ${directory} is in use (is floodgate running?); stop the service before "floodgate repair"`, { cause: error });
    }
    return;
  }
  await db.close();
}

/** LevelDB directories are flat, except the `lost/` a previous repair made. */
async function copyDirectory(from: string, to: string, uid: number, gid: number): Promise<void> {
  await mkdir(to, { mode: 0o750 });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    if (entry.isDirectory()) await copyDirectory(join(from, entry.name), join(to, entry.name), uid, gid);
    else if (entry.isFile()) await copyFile(join(from, entry.name), join(to, entry.name));
  }
  await chownTree(to, uid, gid);
}

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  if (process.getuid?.() !== 0) return;
  await chown(dir, uid, gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(path, uid, gid);
    else await chown(path, uid, gid);
  }
}
