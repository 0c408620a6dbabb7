// MemoryStore: the score store in a Map; the reference the shared behaviour suite checks other backends against.
//
// Every method runs to completion without awaiting anything in between, so each update is atomic for
// free. sweep() and size() look at every record (O(n)): fine for tests and for a local fallback.
import { addOne, checkBatch, applyUpdate, checkKey, checkNow, checkTopLimit, isExpired, liveRecord, type StoredScore } from './decay';
import { StoreError } from './errors';
import type { MaybePromise } from '../maybe-promise';
import type { ScoreRecord, ScoreStore, ScoreUpdate } from './score-store';
import { TopScores } from './top-scores';

export class MemoryStore implements ScoreStore {
  private readonly records = new Map<string, StoredScore>();
  private closed = false;

  add(key: string, points: number, halfLifeMs: number, now: number, cap?: number): Promise<number> {
    return addOne(this, key, points, halfLifeMs, now, cap);
  }

  addMany(updates: ReadonlyArray<ScoreUpdate>, now: number): MaybePromise<number[]> {
    this.checkOpen();
    checkBatch(updates, now);
    // Applied at once: no copies of the updates are needed (see level-store.ts).
    return updates.map((update) => {
      const step = applyUpdate(this.records.get(update.key), update, now);
      if (step.next === null) this.records.delete(update.key);
      else if (step.next !== 'unchanged') this.records.set(update.key, step.next);
      return step.score;
    });
  }

  async get(key: string, now: number): Promise<ScoreRecord | undefined> {
    this.checkOpen();
    checkKey(key);
    checkNow(now);
    return liveRecord(key, this.records.get(key), now);
  }

  async delete(key: string): Promise<boolean> {
    this.checkOpen();
    checkKey(key);
    return this.records.delete(key);
  }

  async top(n: number, now: number, prefix = ''): Promise<ScoreRecord[]> {
    this.checkOpen();
    checkTopLimit(n);
    checkNow(now);
    const top = new TopScores(n);
    for (const [key, stored] of this.records) {
      if (!key.startsWith(prefix)) continue;
      const record = liveRecord(key, stored, now);
      if (record !== undefined) top.offer(record);
    }
    return top.result();
  }

  async sweep(now: number): Promise<number> {
    this.checkOpen();
    checkNow(now);
    let removed = 0;
    for (const [key, stored] of this.records) {
      if (isExpired(stored, now)) {
        this.records.delete(key);
        removed += 1;
      }
    }
    return removed;
  }

  async size(): Promise<number> {
    this.checkOpen();
    return this.records.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.records.clear();
  }

  private checkOpen(): void {
    if (this.closed) throw new StoreError('score store: the memory store is closed');
  }
}
