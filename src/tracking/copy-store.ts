// Tracking copies on disk: each chosen message streamed to a file while it arrives, kept under one
// folder per track entry at its end (or deleted), and the folders held to a total size and an age.
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { link, mkdir, readdir, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export interface CopySettings {
  /** The copies' root: one folder per track entry, and `.incoming` for messages still arriving. */
  readonly dir: string;
  /** A longer message is cut here (its file name then ends in `-truncated.eml`). */
  readonly maxMessageBytes: number;
  /** The oldest copies go first when all of them together pass this. */
  readonly maxTotalBytes: number;
  readonly keepMs: number;
}

export interface CopyEvents {
  /** Writing failed (disk full, permissions): the copy is lost, mail goes on. */
  failed(error: Error): void;
  saved(paths: readonly string[], bytes: number, truncated: boolean): void;
}

const INCOMING = '.incoming';

export class CopyStore {
  private incomingReady = false;

  constructor(
    readonly settings: CopySettings,
    private readonly events: CopyEvents,
  ) {}

  /** A new copy, written to `.incoming` until it is kept or discarded. */
  begin(): MessageCopy {
    if (!this.incomingReady) {
      // Once per process (and again after a failure): the one synchronous call of the copies.
      try {
        mkdirSync(join(this.settings.dir, INCOMING), { recursive: true, mode: 0o750 });
        this.incomingReady = true;
      } catch (error) {
        this.events.failed(error as Error);
      }
    }
    return new MessageCopy(this, join(this.settings.dir, INCOMING, `${Date.now()}-${randomBytes(6).toString('hex')}.eml`), this.events);
  }

  /**
   * Deletes copies older than keep, then the oldest until the total is under the cap; also
   * `.incoming` files left by a crash. Returns how many files went.
   */
  async prune(now = Date.now()): Promise<number> {
    const files: Array<{ path: string; mtimeMs: number; size: number }> = [];
    let entries: string[];
    try {
      entries = await readdir(this.settings.dir);
    } catch {
      return 0; // nothing copied yet
    }
    for (const folder of entries) {
      const dir = join(this.settings.dir, folder);
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        continue; // a file, or gone meanwhile
      }
      for (const name of names) {
        try {
          const s = await stat(join(dir, name));
          if (s.isFile()) files.push({ path: join(dir, name), mtimeMs: s.mtimeMs, size: folder === INCOMING && now - s.mtimeMs < 3_600_000 ? 0 : s.size });
        } catch {
          // removed meanwhile
        }
      }
    }
    files.sort((a, b) => a.mtimeMs - b.mtimeMs);
    let total = files.reduce((sum, f) => sum + f.size, 0);
    let removed = 0;
    for (const f of files) {
      const stale = now - f.mtimeMs > this.settings.keepMs || (f.path.includes(`/${INCOMING}/`) && now - f.mtimeMs > 3_600_000);
      if (!stale && total <= this.settings.maxTotalBytes) continue;
      try {
        await unlink(f.path);
        total -= f.size;
        removed++;
      } catch {
        // gone meanwhile
      }
    }
    return removed;
  }
}

/** One message being copied; never throws at its caller: a failed copy is reported and dropped. */
export class MessageCopy {
  private stream: WriteStream | undefined;
  private bytes = 0;
  private truncated = false;
  private failed = false;
  private done = false;

  constructor(
    private readonly store: CopyStore,
    private readonly path: string,
    private readonly events: CopyEvents,
  ) {}

  /** Appends bytes up to the per-message cap; a returned promise is back-pressure (the disk is behind). */
  write(bytes: Buffer): void | Promise<void> {
    if (this.failed || this.done || this.truncated) return;
    const room = this.store.settings.maxMessageBytes - this.bytes;
    const part = bytes.length > room ? bytes.subarray(0, room) : bytes;
    if (part.length < bytes.length) this.truncated = true;
    this.bytes += part.length;
    const stream = this.open();
    if (!stream.write(part)) return new Promise((resolve) => stream.once('drain', resolve).once('close', resolve));
  }

  /** Keeps the copy under each folder as `fileName` (.eml added); resolves with the paths, [] on failure. */
  async keep(folders: readonly string[], fileName: string): Promise<string[]> {
    if (this.done) return [];
    this.done = true;
    if (!(await this.close()) || this.failed) return this.remove([]);
    const name = `${fileName}${this.truncated ? '-truncated' : ''}.eml`;
    const paths: string[] = [];
    try {
      for (const folder of folders) {
        const dir = join(this.store.settings.dir, folder);
        await mkdir(dir, { recursive: true, mode: 0o750 });
        // A hard link per folder: one message matched by two entries is stored once.
        await link(this.path, join(dir, name));
        paths.push(join(dir, name));
      }
    } catch (error) {
      this.events.failed(error as Error);
    }
    await this.remove([]);
    if (paths.length > 0) this.events.saved(paths, this.bytes, this.truncated);
    return paths;
  }

  /** The message is not to be kept (no entry matched, or it was aborted). */
  async discard(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.close();
    await this.remove([]);
  }

  private open(): WriteStream {
    if (!this.stream) {
      const stream = createWriteStream(this.path, { flags: 'wx', mode: 0o640 });
      stream.on('error', (error) => this.fail(error));
      this.stream = stream;
    }
    return this.stream;
  }

  private fail(error: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.events.failed(error);
    this.stream?.destroy();
  }

  /** Resolves true when everything written reached the file. */
  private close(): Promise<boolean> {
    const stream = this.stream;
    if (!stream) return Promise.resolve(false);
    return new Promise((resolve) => {
      if (stream.destroyed) return resolve(false);
      stream.end(() => resolve(!this.failed));
      stream.once('error', () => resolve(false));
    });
  }

  private async remove<T>(result: T): Promise<T> {
    await rm(this.path, { force: true }).catch(() => undefined);
    return result;
  }
}
