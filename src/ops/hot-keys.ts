// The hottest keys, kept in memory from the scores the store returns at every event, decayed to the
// moment they are read: what the status page and `floodgate status` show, without scanning the store.
//
// Why not the store: its top() reads every stored key (a LevelDB scan, a Redis SCAN): hundreds of
// thousands under a flood, every few seconds while a page is open. Measured before this (issue 15
// bench): an open page cost 10 % of the peak session rate. With a shared Redis each host knows the
// keys it scored itself, with their shared scores; `floodgate scores top` still asks the store.
import type { ScoredKey } from '../engine/decide';
import { decayedScore } from '../store/decay';

interface Hot {
  score: number;
  updatedAt: number;
  halfLifeMs: number;
}

export class HotKeys {
  private readonly keys = new Map<string, Hot>();

  /** `capacity`: keys kept; at twice as many, the coldest are dropped (one sort per `capacity` new keys). */
  constructor(readonly capacity = 2000) {}

  /** The keys of one evaluation with the scores the store just returned. */
  scored(scored: readonly ScoredKey[], now: number): void {
    for (const { update, score } of scored) {
      // Updated in place: prune() ranks by decayed score, so the order of the map does not matter.
      const hot = this.keys.get(update.key);
      if (hot === undefined) {
        this.keys.set(update.key, { score, updatedAt: now, halfLifeMs: update.halfLifeMs });
      } else {
        hot.score = score;
        hot.updatedAt = now;
        hot.halfLifeMs = update.halfLifeMs;
      }
    }
    if (this.keys.size > this.capacity * 2) this.prune(now);
  }

  /**
   * The store's highest scores at start (one scan), so that a restart does not forget a flood in
   * progress; keys scored since the scan began keep their newer score.
   */
  seed(records: ReadonlyArray<{ key: string; score: number; halfLifeMs: number }>, now: number): void {
    for (const r of records) if (!this.keys.has(r.key)) this.keys.set(r.key, { score: r.score, updatedAt: now, halfLifeMs: r.halfLifeMs });
    if (this.keys.size > this.capacity * 2) this.prune(now);
  }

  forget(key: string): void {
    this.keys.delete(key);
  }

  /** Highest current scores first, of keys starting with `prefix` when given. */
  top(limit: number, now: number, prefix?: string): Array<{ key: string; score: number }> {
    const out: Array<{ key: string; score: number }> = [];
    for (const [key, hot] of this.keys) {
      if (prefix !== undefined && !key.startsWith(prefix)) continue;
      out.push({ key, score: decayedScore(hot, now) });
    }
    return out.sort((a, b) => b.score - a.score).slice(0, limit);
  }

  /**
   * Keeps the `capacity` highest decayed scores. The scores alone are ranked, in a typed array that
   * sorts natively: ranking {key, score} objects with a comparator made 4 % of the bytes the event
   * loop allocated at peak, where every session brings new keys (issue 20's heap profile).
   */
  private prune(now: number): void {
    const scores = new Float64Array(this.keys.size);
    let i = 0;
    for (const hot of this.keys.values()) scores[i++] = decayedScore(hot, now);
    const ranked = Float64Array.from(scores).sort();
    const lowestKept = ranked[ranked.length - this.capacity]!;
    // Among keys scoring exactly the lowest kept score, the first ones met stay, up to the capacity.
    let roomAtLowest = this.capacity;
    for (let j = ranked.length - 1; j >= 0 && ranked[j]! > lowestKept; j--) roomAtLowest--;
    i = 0;
    for (const key of this.keys.keys()) {
      const score = scores[i++]!;
      if (score > lowestKept) continue;
      if (score === lowestKept && roomAtLowest > 0) roomAtLowest--;
      else this.keys.delete(key);
    }
  }
}
