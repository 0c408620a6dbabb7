// LevelStore's memory: the current state of the hot keys, so calls are answered without LevelDB; misses read it in groups.
//
// Every key in memory has exactly one slot, and each call changes its keys in one synchronous step, so
// a key's read-decay-write is atomic without locks. A key that is not in memory but certainly has no
// record (`knownAbsent`: the store's KeyFilter) gets an empty slot at once. A call needing another key
// waits here; the missing keys of the waiting calls are read with one getMany per group (the next group
// gathers while one is read), then the group's calls are applied in arrival order. Keys a waiting call
// needs are pinned until it has run, so no key can ever have two slots.
//
// Bounded: after each step at most `capacity` keys stay in memory besides those waiting to be written,
// the least recently used unpinned ones leave first (nearly: see find()). A changed key also sits in
// `dirty` until LevelWriter has put it in a batch, and then in `writing` until that batch has landed;
// such a key is not evicted, so a miss never reads a value older than one already answered. Those two
// maps are bounded by the writer (maxDirty).
//
// Layout: a key's state is six numbers in one Float64Array (its slot), and the LRU map holds only the
// key and the slot's number. Objects per key (an entry and its StoredScore, with their boxed doubles)
// measured 260 bytes of heap a key, and every key read or created meant objects for the GC to promote
// and later collect in full; a slot measured ~147 bytes in all (the key string and map slot ~93, the
// array ~54 with its spare eighth), and the numbers are nothing for the GC to trace.
import type { Level } from 'level';
import type { StoredScore } from './decay';
import { decodeStored, expiryBucket, recordKey } from './level-layout';

/** A call waiting for keys to be read; `apply` gets their slots in the order of `keys`. */
interface Waiting {
  keys: readonly string[];
  apply(slots: number[]): unknown;
  resolve(result: unknown): void;
  reject(error: unknown): void;
}

/** Calls per read group: bounds one getMany while still sharing it among a burst of sessions. */
const MAX_GROUP = 2000;

/** The numbers of a slot, at these offsets from slot * FIELDS. NaN in EXPIRES_AT: no record; in DISK_BUCKET: no index entry. */
const SCORE = 0;
const UPDATED_AT = 1;
const HALF_LIFE = 2;
const EXPIRES_AT = 3;
/** Bucket of the key's index entry on disk or in the batch being written. */
const DISK_BUCKET = 4;
/** The cache's count of placements when the key was last put at the recent end. */
const PLACED_AT = 5;
const FIELDS = 6;

export class ScoreCache {
  /** Key to slot, least recently used first (a Map iterates in insertion order; a use may re-insert). */
  private readonly hot = new Map<string, number>();
  private fields: Float64Array;
  private readonly freeSlots: number[] = [];
  private slotsUsed = 0;
  private placed = 0;
  /** Changed since the writer last took them (key to slot). */
  dirty = new Map<string, number>();
  /** The batch being written (key to slot). */
  writing = new Map<string, number>();
  private readonly pins = new Map<string, number>();
  private waiting: Waiting[] = [];
  private reading: Promise<void> | undefined;

  constructor(
    private readonly db: Level<string, string>,
    readonly capacity: number,
    private readonly knownAbsent: (key: string) => boolean,
  ) {
    this.fields = new Float64Array((capacity + (capacity >> 3) + 1) * FIELDS);
  }

  /** The key's slot if it is in memory, marked as used; -1 when it must be read. */
  find(key: string): number {
    const slot = this.hot.get(key);
    if (slot === undefined) return -1;
    // Moved to the recent end only once it has drifted into the older half: re-inserting on every hit
    // (exact LRU) made the map build a new table every few thousand hits, old-generation garbage.
    if (this.placed - this.fields[slot * FIELDS + PLACED_AT]! > this.capacity >> 1) this.place(key, slot);
    return slot;
  }

  /** Like find(), without marking it used (for scans). */
  peek(key: string): number {
    return this.hot.get(key) ?? -1;
  }

  /** The slots of all the keys, or undefined when any of them must be read first. */
  findAll(keys: readonly string[]): number[] | undefined {
    const slots: number[] = [];
    for (const key of keys) {
      let slot = this.find(key);
      // A pinned key belongs to a waiting call, whose group may be reading it right now.
      if (slot < 0 && !this.pins.has(key)) slot = this.absentSlot(key);
      if (slot < 0) return undefined;
      slots.push(slot);
    }
    return slots;
  }

  /** The slot's record (a new object each call), or undefined when the key has none. */
  stored(slot: number): StoredScore | undefined {
    const at = slot * FIELDS;
    const f = this.fields;
    if (Number.isNaN(f[at + EXPIRES_AT])) return undefined;
    return { score: f[at + SCORE]!, updatedAt: f[at + UPDATED_AT]!, halfLifeMs: f[at + HALF_LIFE]!, expiresAt: f[at + EXPIRES_AT]! };
  }

  hasRecord(slot: number): boolean {
    return !Number.isNaN(this.fields[slot * FIELDS + EXPIRES_AT]);
  }

  setStored(slot: number, stored: StoredScore | undefined): void {
    const at = slot * FIELDS;
    const f = this.fields;
    if (stored === undefined) {
      f[at + EXPIRES_AT] = NaN;
      return;
    }
    f[at + SCORE] = stored.score;
    f[at + UPDATED_AT] = stored.updatedAt;
    f[at + HALF_LIFE] = stored.halfLifeMs;
    f[at + EXPIRES_AT] = stored.expiresAt;
  }

  /** The slot's record's expiry (NaN when it has none), without building the record. */
  expiresAt(slot: number): number {
    return this.fields[slot * FIELDS + EXPIRES_AT]!;
  }

  /** Bucket of the slot's index entry on disk or being written; undefined: none. */
  diskBucket(slot: number): number | undefined {
    const bucket = this.fields[slot * FIELDS + DISK_BUCKET]!;
    return Number.isNaN(bucket) ? undefined : bucket;
  }

  setDiskBucket(slot: number, bucket: number | undefined): void {
    this.fields[slot * FIELDS + DISK_BUCKET] = bucket ?? NaN;
  }

  /** Calls `each` with every key in memory that has a record (for a new KeyFilter). */
  forEachStored(each: (key: string) => void): void {
    for (const [key, slot] of this.hot) if (this.hasRecord(slot)) each(key);
  }

  /** Runs `apply` once every key is in memory, in order with the other waiting calls. */
  whenLoaded<T>(keys: readonly string[], apply: (slots: number[]) => T): Promise<T> {
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
   * Drops the least recently used keys beyond capacity that are neither pinned nor waiting to be
   * written; call after each step that added some. Keys waiting to be written do not count against
   * capacity (the writer bounds them), so a slow disk never makes every call walk the whole map. Only
   * once an eighth over: each pass walks the map from its start, over the holes the last evictions
   * left, so evicting one key per call cost a walk of thousands of holes per call.
   */
  evictOverflow(): void {
    if (this.evictable() <= this.capacity + (this.capacity >> 3)) return;
    for (const [key, slot] of this.hot) {
      if (this.evictable() <= this.capacity) return;
      if (this.pins.has(key) || this.dirty.has(key) || this.writing.has(key)) continue;
      this.hot.delete(key);
      this.freeSlots.push(slot);
    }
  }

  /** Keys in memory less those waiting to be written (every such key is in memory; one in both maps counts twice, erring low). */
  private evictable(): number {
    return this.hot.size - this.dirty.size - this.writing.size;
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
    const missing = [...new Set(group.flatMap((w) => w.keys))].filter((key) => this.find(key) < 0 && this.absentSlot(key) < 0);
    const failed = new Map<string, unknown>();
    try {
      const values = missing.length > 0 ? await this.db.getMany(missing.map(recordKey)) : [];
      missing.forEach((key, i) => {
        const value = values[i];
        try {
          const stored = value === undefined ? undefined : decodeStored(key, value);
          this.add(key, stored);
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
        else w.resolve(w.apply(w.keys.map((key) => this.find(key))));
      } catch (thrown) {
        w.reject(thrown);
      }
      this.unpin(w.keys);
    }
    this.evictOverflow();
  }

  /** A new empty slot when the key certainly has no record, else -1. */
  private absentSlot(key: string): number {
    return this.knownAbsent(key) ? this.add(key, undefined) : -1;
  }

  /** Gives a key not in memory a slot holding its record as on disk (with its index entry there). */
  private add(key: string, stored: StoredScore | undefined): number {
    const slot = this.freeSlots.pop() ?? this.newSlot();
    this.setStored(slot, stored);
    this.setDiskBucket(slot, stored === undefined ? undefined : expiryBucket(stored.expiresAt));
    this.place(key, slot);
    return slot;
  }

  private newSlot(): number {
    if ((this.slotsUsed + 1) * FIELDS > this.fields.length) {
      // Grows only while keys waiting to be written or read hold memory beyond capacity.
      const grown = new Float64Array(this.fields.length * 2);
      grown.set(this.fields);
      this.fields = grown;
    }
    return this.slotsUsed++;
  }

  /** Puts the key at the recent end of the LRU order. */
  private place(key: string, slot: number): void {
    this.hot.delete(key);
    this.fields[slot * FIELDS + PLACED_AT] = ++this.placed;
    this.hot.set(key, slot);
  }

  private unpin(keys: readonly string[]): void {
    for (const key of keys) {
      const count = this.pins.get(key)!;
      if (count === 1) this.pins.delete(key);
      else this.pins.set(key, count - 1);
    }
  }
}
