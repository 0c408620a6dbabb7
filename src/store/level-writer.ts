// Group commit for LevelStore: every read-modify-write on the scores, applied in order, many per batch.
//
// LevelDB lets one process open a directory and has no compare-and-set, so atomicity per key is this
// process's job. Rather than a lock per key (one disk read and one write per update, ~11k/s on a hot
// key), mutations queue here; while one group is being written the next one gathers, then is read
// with one getMany, applied in arrival order in memory and written as one atomic batch. A key touched
// twice in a group sees its earlier update, so 1000 concurrent adds on one key still sum exactly.
import type { Level } from 'level';
import { applyUpdate, type StoredScore } from './decay';
import { decodeStored, encodeStored, indexKey, recordKey } from './level-layout';
import type { ScoreUpdate } from './score-store';

type BatchOp = { type: 'put'; key: string; value: string } | { type: 'del'; key: string };

/**
 * Mutations per group: bounds one batch (~3 operations each) and the memory a burst can pin, while
 * still amortising a disk round trip over hundreds of updates.
 */
const MAX_GROUP = 2000;

/** The keys one group reads, as stored before it and as its mutations leave them. */
class WorkingSet {
  private readonly raw = new Map<string, string | undefined>();
  private readonly before = new Map<string, StoredScore | undefined>();
  private readonly after = new Map<string, StoredScore | undefined>();

  constructor(keys: readonly string[], values: ReadonlyArray<string | undefined>) {
    keys.forEach((key, i) => this.raw.set(key, values[i]));
  }

  /** Throws StoreError on a corrupt record; the mutation touching it fails, the rest of the group goes on. */
  get(key: string): StoredScore | undefined {
    if (this.after.has(key)) return this.after.get(key);
    if (!this.before.has(key)) {
      const value = this.raw.get(key);
      this.before.set(key, value === undefined ? undefined : decodeStored(key, value));
    }
    return this.before.get(key);
  }

  set(key: string, stored: StoredScore | undefined): void {
    this.after.set(key, stored);
  }

  /** The batch turning `before` into `after`, and the change in the number of records. */
  changes(): { ops: BatchOp[]; delta: number } {
    const ops: BatchOp[] = [];
    let delta = 0;
    for (const [key, next] of this.after) {
      const prev = this.before.get(key);
      if (prev === next) continue;
      // The old index entry goes in the same batch as the record change, so sweep() never sees a stale one on disk.
      if (prev !== undefined && prev.expiresAt !== next?.expiresAt) ops.push({ type: 'del', key: indexKey(prev.expiresAt, key) });
      if (next === undefined) {
        ops.push({ type: 'del', key: recordKey(key) });
        delta -= 1;
        continue;
      }
      ops.push({ type: 'put', key: recordKey(key), value: encodeStored(next) });
      ops.push({ type: 'put', key: indexKey(next.expiresAt, key), value: '' });
      if (prev === undefined) delta += 1;
    }
    return { ops, delta };
  }
}

interface Pending {
  keys: readonly string[];
  /** Applies the mutation to the working set and returns its result, handed back once the batch is on disk. */
  apply(work: WorkingSet): unknown;
  resolve(result: unknown): void;
  reject(error: unknown): void;
}

export class LevelWriter {
  private pending: Pending[] = [];
  private draining: Promise<void> | undefined;

  constructor(
    private readonly db: Level<string, string>,
    /** Records stored, kept exact by every group, so size() needs no scan. */
    public records: number,
  ) {}

  add(updates: ReadonlyArray<ScoreUpdate>, now: number): Promise<number[]> {
    return this.enqueue(updates.map((u) => u.key), (work) => updates.map((update) => {
      const step = applyUpdate(work.get(update.key), update, now);
      if (step.next !== 'unchanged') work.set(update.key, step.next ?? undefined);
      return step.score;
    }));
  }

  delete(key: string): Promise<boolean> {
    return this.enqueue([key], (work) => {
      if (work.get(key) === undefined) return false;
      work.set(key, undefined);
      return true;
    });
  }

  /** Deletes those of `keys` whose record (read now, inside the group) has expired at `now`; returns how many. */
  expire(keys: readonly string[], now: number): Promise<number> {
    return this.enqueue(keys, (work) => {
      let removed = 0;
      for (const key of keys) {
        const stored = work.get(key);
        if (stored === undefined || stored.expiresAt > now) continue;
        work.set(key, undefined);
        removed += 1;
      }
      return removed;
    });
  }

  /** Resolves once every mutation queued so far is on disk (or has failed). */
  async idle(): Promise<void> {
    while (this.draining !== undefined) await this.draining;
  }

  private enqueue<T>(keys: readonly string[], apply: (work: WorkingSet) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ keys, apply, resolve: resolve as (result: unknown) => void, reject });
      this.draining ??= this.drain();
    });
  }

  private async drain(): Promise<void> {
    // Yield once so that everything queued in the same tick (a burst of sessions) forms the first group.
    await Promise.resolve();
    try {
      while (this.pending.length > 0) await this.commit(this.pending.splice(0, MAX_GROUP));
    } finally {
      // Cleared in the same synchronous step as the empty check, so no mutation can be queued unseen.
      this.draining = undefined;
    }
  }

  private async commit(group: Pending[]): Promise<void> {
    const keys = [...new Set(group.flatMap((p) => p.keys))];
    const applied: Array<() => void> = [];
    try {
      const work = new WorkingSet(keys, await this.db.getMany(keys.map(recordKey)));
      for (const p of group) {
        try {
          p.keys.forEach((key) => work.get(key)); // decode first: a corrupt record fails before any change
          const result = p.apply(work);
          applied.push(() => p.resolve(result));
        } catch (error) {
          p.reject(error);
        }
      }
      const { ops, delta } = work.changes();
      if (ops.length > 0) await this.db.batch(ops);
      this.records += delta;
      applied.forEach((resolve) => resolve());
    } catch (error) {
      group.forEach((p) => p.reject(error));
    }
  }
}
