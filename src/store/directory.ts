// Creates the store's directory, refusing paths where Node's own recursive mkdir would spin forever.
//
// fs.mkdir(path, {recursive: true}) loops at 100% CPU, never settling, when a parent exists but cannot
// hold children and answers ENOENT (anything under /proc, a dangling symlink): it reads ENOENT as
// "parent missing", re-creates the parent (EEXIST, fine) and retries, forever. classic-level calls
// exactly that on open, so a mistyped data directory would hang the service instead of failing.
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Resolves once `dir` is an existing directory; rejects with the system error otherwise. */
export async function ensureDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (!(await stat(dir)).isDirectory()) throw Object.assign(new Error(`${dir} exists and is not a directory`), { code: 'ENOTDIR' });
      return;
    }
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw error;
    await ensureDirectory(parent);
    // The parent is there now, so a second ENOENT is final: this is the step Node's mkdir lacks.
    await mkdir(dir).catch((again: NodeJS.ErrnoException) => {
      if (again.code !== 'EEXIST') throw again;
    });
  }
}
