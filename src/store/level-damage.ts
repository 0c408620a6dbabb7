// Recognising a damaged LevelDB directory, so the service stops with the way out instead of a bare LevelDB error.
//
// Left alone, LevelDB handles damage three ways: a corrupt MANIFEST or table file fails the open (or
// the first read of the table), which a service restarted by systemd would repeat every few seconds;
// a garbled log is skipped record by record on open, noted only in its own LOG file; and a directory
// that lost its CURRENT file is taken for a new database, whose first compaction deletes the old
// files as obsolete. The first is reported here as StoreDamagedError, the second as the lines LevelDB
// wrote, and the third is refused before LevelDB may open the directory at all.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreDamagedError } from './errors';

/** What LevelDB writes into a database directory besides CURRENT. */
const LEVELDB_FILE = /^(MANIFEST-\d+|\d+\.(ldb|sst|log))$/;

function damaged(directory: string, reason: string, cause?: unknown): StoreDamagedError {
  return new StoreDamagedError(
    `score store: the LevelDB directory ${directory} is damaged (${reason}). Its data files are left as they are. ` +
      `Run "floodgate repair" to recover what LevelDB can (it keeps a copy of the damaged files beside the directory), ` +
      `or move ${directory} aside to start with empty scores.`,
    cause === undefined ? undefined : { cause },
  );
}

/** Refuses a directory that holds LevelDB files but no CURRENT: opening it would start empty and delete them. */
export async function refuseOrphanedFiles(directory: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch {
    return; // missing or unreadable: LevelDB's own open says why
  }
  if (names.includes('CURRENT')) return;
  const orphans = names.filter((name) => LEVELDB_FILE.test(name));
  if (orphans.length > 0) throw damaged(directory, `CURRENT is missing beside ${orphans.length} LevelDB file(s), e.g. ${orphans.sort()[0]}`);
}

/**
 * The error LevelDB gave while opening or scanning `directory`, as StoreDamagedError when it means
 * damaged files: a corruption, or a file that is shorter than LevelDB knows it to be or is missing.
 * Anything else (a lock, a permission) is left for the caller, undefined here.
 */
export function asDamage(directory: string, error: unknown): StoreDamagedError | undefined {
  const inner = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  const from = typeof inner?.code === 'string' ? inner : (error as { code?: unknown; message?: unknown });
  const code = from.code;
  const message = String(from.message ?? error);
  if (code === 'LEVEL_CORRUPTION') return damaged(directory, message, error);
  if (code === 'LEVEL_IO_ERROR' && /: (Invalid argument|No such file or directory)$/.test(message) && message.includes(directory)) {
    return damaged(directory, message, error);
  }
  return undefined;
}

/** The records LevelDB skipped as corrupt while opening, from the LOG it rewrites on every open ("(ignoring error) ... dropping N bytes"). */
export async function recordsDroppedOnOpen(directory: string): Promise<string[]> {
  try {
    const log = await readFile(join(directory, 'LOG'), 'utf8');
    return log.split('\n').filter((line) => line.includes('(ignoring error)')).map((line) => line.replace(/^\S+ \S+ /, ''));
  } catch {
    return [];
  }
}
