// Keeps the n highest-scoring records seen during a scan, without holding the whole scan in memory.
import type { ScoreRecord } from './score-store';

export class TopScores {
  // Ascending by score, at most `limit` long: the lowest kept record is first, cheap to compare against.
  private readonly kept: ScoreRecord[] = [];

  constructor(private readonly limit: number) {}

  offer(record: ScoreRecord): void {
    if (this.limit === 0) return;
    if (this.kept.length === this.limit && record.score <= this.kept[0]!.score) return;
    let low = 0;
    let high = this.kept.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.kept[mid]!.score < record.score) low = mid + 1;
      else high = mid;
    }
    this.kept.splice(low, 0, record);
    if (this.kept.length > this.limit) this.kept.shift();
  }

  /** Highest first; equal scores in key order, so listings are stable. */
  result(): ScoreRecord[] {
    return [...this.kept].sort((a, b) => b.score - a.score || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}
