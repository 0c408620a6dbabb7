// LevelStore's memory: the current state of the hot keys, so calls are answered without LevelDB; misses read it in groups.
//
// Every key in memory has exactly one CachedScore, and each call changes its keys in one synchronous
// step, so a key's read-decay-write is atomic without locks. A key that is not in memory but certainly
// has no record (`knownAbsent`: the store's KeyFilter) gets an empty entry at once. A call needing
// another key waits here; the missing keys of the waiting calls are read with one getMany per group
// (the next group gathers while one is read), then the group's calls are applied in arrival order.
// Keys a waiting call needs are pinned until it has run, so no key can ever have two entries.
//
// Bounded: after each step at most `capacity` entries stay in the LRU map, the least recently used
// unpinned ones leave first (nearly: see find()). A changed entry also sits in `dirty` until LevelWriter has put it in a
// batch, and then in `writing` until that batch has landed: an evicted entry is still found there, so a
// miss never reads a value older than one already answered. Those two maps are bounded by the writer.
import type { Level } from 'level';
import type { StoredScore } from './decay';
import { decodeStored, expiryBucket, recordKey } from './level-layout';

export interface CachedScore {
  /** The key's current state; undefined: no record (known absent, deleted or swept). */
  stored: StoredScore | undefined;
  /** Bucket of the key's index entry on disk or in the batch being written; undefined: no entry. */
  diskBucket: number | undefined;
  /** ScoreCache's count of placements when this entry was last put at the recent end. */
  placedAt: number;
}

/** A call waiting for keys to be read; `apply` gets their entries in the order of `keys`. */
interface Waiting {
  keys: readonly string[];
  apply(entries: CachedScore[]): unknown;
  resolve(result: unknown): void;
  reject(error: unknown): void;
}

/** Calls per read group: bounds one getMany while still sharing it among a burst of sessions. */
const MAX_GROUP = 2000;

export class ScoreCache {
  /** Least recently used first (a Map iterates in insertion order; a use may re-insert). */
  private readonly hot = new Map<string, CachedScore>();
  private placed = 0;
  /** Changed since the writer last took them; kept even when evicted from `hot`, until written. */
  dirty = new Map<string, CachedScore>();
  /** The batch being written: read from here rather than from LevelDB until it has landed. */
  writing = new Map<string, CachedScore>();
  private readonly pins = new Map<string, number>();
  private waiting: Waiting[] = [];
  private reading: Promise<void> | undefined;

  constructor(
    private readonly db: Level<string, string>,
    readonly capacity: number,
    private readonly knownAbsent: (key: string) => boolean,
  ) {}

  /** The key's entry if it is in memory, marked as used; undefined when it must be read. */
  find(key: string): CachedScore | undefined {
    const entry = this.hot.get(key);
    if (entry === undefined) {
      const kept = this.dirty.get(key) ?? this.writing.get(key);
      if (kept !== undefined) this.place(key, kept);
      return kept;
    }
    // Moved to the recent end only once it has drifted into the older half: re-inserting on every hit
    // (exact LRU) made the map build a new table every few thousand hits, old-generation garbage.
    if (this.placed - entry.placedAt > this.capacity >> 1) this.place(key, entry);
    return entry;
  }

  /** Like find(), without marking it used or bringing it back (for scans). */
  peek(key: string): CachedScore | undefined {
    return this.hot.get(key) ?? this.dirty.get(key) ?? this.writing.get(key);
  }

  /** The entries of all the keys, or undefined when any of them must be read first. */
  findAll(keys: readonly string[]): CachedScore[] | undefined {
    const entries: CachedScore[] = [];
    for (const key of keys) {
      // A pinned key belongs to a waiting call, whose group may be reading it right now.
      const entry = this.find(key) ?? (this.pins.has(key) ? undefined : this.absentEntry(key));
      if (entry === undefined) return undefined;
      entries.push(entry);
    }
    return entries;
  }

  /** Calls `each` with every key in memory that has a record (for a new KeyFilter). */
  forEachStored(each: (key: string) => void): void {
    for (const map of [this.hot, this.dirty, this.writing]) {
      for (const [key, entry] of map) if (entry.stored !== undefined) each(key);
    }
  }

  /** Runs `apply` once every key is in memory, in order with the other waiting calls. */
  whenLoaded<T>(keys: readonly string[], apply: (entries: CachedScore[]) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      for (const key of keys) this.pins.set(key, (this.pins.get(key) ?? 0) + 1);
      this.waiting.push({ keys, apply, resolve: resolve as (result: unknown) => void, reject });
      this.reading ??= this.readGroups();
    });
  }

  /** Resolves once no call is waiting for a read. */
  async idle(): Promise<void> {
    while (this.reading !== undefined) await this.reading;
  }

  /**
   * Drops the least recently used unpinned entries beyond capacity; call after each step that added
   * some. Only once an eighth over: each pass walks the map from its start, over the holes the last
   * evictions left, so evicting one entry per call cost a walk of thousands of holes per call.
   */
  evictOverflow(): void {
    if (this.hot.size <= this.capacity + (this.capacity >> 3)) return;
    for (const key of this.hot.keys()) {
      if (this.hot.size <= this.capacity) return;
      if (!this.pins.has(key)) this.hot.delete(key);
    }
  }

  private async readGroups(): Promise<void> {
    // Wait for the end of this event-loop turn, so that the calls of all the connections read in it form one group.
    await new Promise((resolve) => setImmediate(resolve));
    try {
      while (this.waiting.length > 0) await this.readGroup(this.waiting.splice(0, MAX_GROUP));
    } finally {
      // Cleared in the same synchronous step as the empty check, so no call can be queued unseen.
      this.reading = undefined;
    }
  }

  private async readGroup(group: Waiting[]): Promise<void> {
    // Pinned keys found in memory now stay there; only the others are read (this group alone reads them).
    const missing = [...new Set(group.flatMap((w) => w.keys))].filter((key) => this.find(key) === undefined && this.absentEntry(key) === undefined);
    const failed = new Map<string, unknown>();
    try {
      const values = missing.length > 0 ? await this.db.getMany(missing.map(recordKey)) : [];
      missing.forEach((key, i) => {
        const value = values[i];
        try {
          const stored = value === undefined ? undefined : decodeStored(key, value);
          this.place(key, { stored, diskBucket: stored === undefined ? undefined : expiryBucket(stored.expiresAt), placedAt: 0 });
        } catch (error) {
          // A corrupt record fails the calls that touch it; the rest of the group goes on.
          failed.set(key, error);
        }
      });
    } catch (error) {
      missing.forEach((key) => failed.set(key, error));
    }
    for (const w of group) {
      const error = w.keys.find((key) => failed.has(key));
      try {
        if (error !== undefined) w.reject(failed.get(error));
        else w.resolve(w.apply(w.keys.map((key) => this.find(key)!)));
      } catch (thrown) {
        w.reject(thrown);
      }
      this.unpin(w.keys);
    }
    this.evictOverflow();
  }

  /** A new empty entry when the key certainly has no record, else undefined. */
  private absentEntry(key: string): CachedScore | undefined {
    if (!this.knownAbsent(key)) return undefined;
    const entry: CachedScore = { stored: undefined, diskBucket: undefined, placedAt: 0 };
    this.place(key, entry);
    return entry;
  }

  /** Puts the entry at the recent end of the LRU order. */
  private place(key: string, entry: CachedScore): void {
    this.hot.delete(key);
    entry.placedAt = ++this.placed;
    this.hot.set(key, entry);
  }

  private unpin(keys: readonly string[]): void {
    for (const key of keys) {
      const count = this.pins.get(key)!;
      if (count === 1) this.pins.delete(key);
      else this.pins.set(key, count - 1);
    }
  }
}
