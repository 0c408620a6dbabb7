// Keeps a recipient map current: polls its file and swaps in a fresh map once a change has settled.
import { stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { loadRecipientMap, mapFileOf, type LoadedRecipientMap, type RecipientMapSpec } from './map-source';
import { RecipientMapError, type RecipientMap } from './recipient-map';

/** What one successful load produced. */
export interface RecipientMapLoad {
  readonly entries: number;
  readonly ms: number;
  readonly warnings: readonly string[];
}

export interface WatchedRecipientMapOptions {
  /** How often the file is stat'ed; default 5 s. A change is loaded after it has held still for one interval. */
  intervalMs?: number;
  /** A reload swapped in a new map. Must not throw. */
  onReload?: (load: RecipientMapLoad) => void;
  /** A reload failed; the previous map stays in use. Reported once per state of the file, not once per poll. Must not throw. */
  onError?: (error: RecipientMapError) => void;
}

export const DEFAULT_WATCH_INTERVAL_MS = 5_000;

/**
 * Polling rather than fs.watch: inotify watches an inode, and both editors (write a copy, rename)
 * and postmap (cdb, lmdb: build a temporary file, rename) replace the inode, after which a watch
 * sees nothing. A stat every few seconds is cheap and sees every replacement.
 */
export class WatchedRecipientMap {
  /** The file polled: the source for list/text maps, the `.db`/`.lmdb`/`.cdb` postmap wrote otherwise. */
  readonly file: string;
  private readonly intervalMs: number;
  private map: RecipientMap | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> | undefined;
  private loadedSignature = '';
  private seenSignature = '';
  private failedSignature = '';
  private closed = false;

  constructor(
    private readonly spec: RecipientMapSpec,
    private readonly options: WatchedRecipientMapOptions = {},
  ) {
    this.file = mapFileOf(spec);
    this.intervalMs = options.intervalMs ?? DEFAULT_WATCH_INTERVAL_MS;
    if (!(this.intervalMs > 0)) throw new RecipientMapError(`watch interval ${this.intervalMs} ms is not positive`);
  }

  /** The map in use; throws before start() has succeeded. */
  get current(): RecipientMap {
    if (this.map === undefined) throw new Error('WatchedRecipientMap.current before start()');
    return this.map;
  }

  /** The current map's answer; undefined (judge nothing) before the first load. */
  isKnown(address: string): boolean | undefined {
    return this.map?.isKnown(address);
  }

  /** Loads the map and starts polling; rejects with RecipientMapError if the map cannot be loaded, so a service can refuse to start. */
  async start(): Promise<RecipientMapLoad> {
    if (this.timer !== undefined || this.closed) throw new Error('WatchedRecipientMap.start called twice or after close()');
    const load = await this.exclusive(() => this.loadAndSwap());
    if (!this.closed) {
      this.timer = setInterval(() => this.poll(), this.intervalMs);
      // A map watcher alone must not keep the process alive once the server has closed.
      this.timer.unref();
    }
    return load;
  }

  /** Loads now (for SIGHUP); on failure keeps the current map and rejects with RecipientMapError. */
  reload(): Promise<RecipientMapLoad> {
    return this.exclusive(() => this.loadAndSwap());
  }

  /** Stops polling and waits for a load in progress (a postmap child) to finish; no callback fires afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.busy;
  }

  private poll(): void {
    // A load slower than the interval (a huge map) is not stacked: ticks meanwhile are skipped.
    if (this.busy !== undefined || this.closed) return;
    void this.exclusive(() => this.check()).catch((error: unknown) => this.report(error));
  }

  /** Loads when the file differs from the loaded one and has not moved since the last poll. */
  private async check(): Promise<void> {
    const signature = await fileSignature(this.file);
    const previous = this.seenSignature;
    this.seenSignature = signature;
    // One interval of stillness first, so a file still being written is never read half-way.
    if (signature !== previous || signature === this.loadedSignature || signature === this.failedSignature) return;
    let loaded: LoadedRecipientMap | undefined;
    let failure: unknown;
    const started = performance.now();
    try {
      loaded = await loadRecipientMap(this.spec);
    } catch (error) {
      failure = error;
    }
    const ms = performance.now() - started;
    // Written to while we read: neither the map nor the error is trustworthy; the next polls retry.
    if ((await fileSignature(this.file)) !== signature || this.closed) return;
    if (loaded === undefined) {
      this.failedSignature = signature;
      this.report(failure);
      return;
    }
    this.swap(loaded, signature);
    this.options.onReload?.(summary(loaded, ms));
  }

  private async loadAndSwap(): Promise<RecipientMapLoad> {
    // Stat'ed before reading: if the file moves during the load, the next polls see a difference and load again.
    const signature = await fileSignature(this.file);
    const started = performance.now();
    const loaded = await loadRecipientMap(this.spec);
    if (!this.closed) this.swap(loaded, signature);
    return summary(loaded, performance.now() - started);
  }

  private swap(loaded: LoadedRecipientMap, signature: string): void {
    this.map = loaded.map;
    this.loadedSignature = this.seenSignature = signature;
    this.failedSignature = '';
  }

  /** Runs one load at a time: a reload() during a poll's load waits for it. */
  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = (this.busy ?? Promise.resolve()).then(task);
    // The tracking promise swallows the outcome (the caller gets it from `run`), so it is never an unhandled rejection.
    const tracked: Promise<void> = run.then(settled, settled).then(() => {
      if (this.busy === tracked) this.busy = undefined;
    });
    this.busy = tracked;
    return run;
  }

  private report(error: unknown): void {
    if (this.closed) return;
    const mapError = error instanceof RecipientMapError ? error : new RecipientMapError(`reloading ${this.file} failed: ${String(error)}`);
    this.options.onError?.(mapError);
  }
}

function settled(): void {}

function summary(loaded: LoadedRecipientMap, ms: number): RecipientMapLoad {
  return { entries: loaded.map.size, ms: Math.round(ms), warnings: loaded.warnings };
}

/** Identity and content stamp of a file; any replacement (new inode), rewrite (size, mtime) or removal changes it. */
async function fileSignature(file: string): Promise<string> {
  try {
    const s = await stat(file, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch (error) {
    return `unreadable:${(error as NodeJS.ErrnoException).code ?? String(error)}`;
  }
}
