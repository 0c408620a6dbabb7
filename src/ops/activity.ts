// What the service did lately, in memory: sessions and answers per second for the last hour, and the
// most recent refusals and delays with who they were for. Bounded whatever the traffic.
import type { AnswerKind, AnswerRecord } from '../handler/scoring-observer';
import { ANSWER_KINDS, type ActivityWindow } from './status-report';

/** Seconds of per-second counts kept (the page's chart spans the last hour). */
const SECONDS_KEPT = 3600;
/** Minutes in the timeline's answers per minute. */
const MINUTES_KEPT = SECONDS_KEPT / 60;
/** Answers kept for the page's "recent" list; each is a few hundred bytes. */
export const RECENT_KEPT = 500;

/** Counts per time slot in a ring: slot t lives at t % size while it is among the last `size` slots. */
class SlotRing {
  private readonly counts: Float64Array;
  private readonly slots: Float64Array;

  constructor(readonly size: number) {
    this.counts = new Float64Array(size);
    this.slots = new Float64Array(size).fill(-1);
  }

  add(slot: number, n = 1): void {
    const i = slot % this.size;
    if (this.slots[i] !== slot) {
      this.slots[i] = slot;
      this.counts[i] = 0;
    }
    this.counts[i]! += n;
  }

  get(slot: number): number {
    const i = slot % this.size;
    return this.slots[i] === slot ? this.counts[i]! : 0;
  }

  /** The counts of the `n` slots ending with `last`, oldest first. */
  series(last: number, n: number): number[] {
    const out: number[] = [];
    for (let slot = last - n + 1; slot <= last; slot++) out.push(slot < 0 ? 0 : this.get(slot));
    return out;
  }

  /** The sum of the `n` slots ending with `last`. */
  total(last: number, n: number): number {
    let sum = 0;
    for (let slot = Math.max(0, last - n + 1); slot <= last; slot++) sum += this.get(slot);
    return sum;
  }
}

export interface Timeline {
  /** Sessions in each of the last 3,600 seconds, oldest first; `start` is the first one's Unix time. */
  sessionsPerSecond: { start: number; values: number[] };
  /** Answers of each kind in each of the last 60 minutes, oldest first; `start` is the first minute's Unix time. */
  answersPerMinute: { start: number; kinds: Record<AnswerKind, number[]> };
}

export class Activity {
  private readonly sessions = new SlotRing(SECONDS_KEPT);
  /**
   * Per second, not per minute: a window of the last minute is the last 60 seconds. Counted per
   * calendar minute, `floodgate status` a few seconds into a minute showed none of the refusals of
   * the seconds before (~57 KB a ring).
   */
  private readonly answers = new Map<AnswerKind, SlotRing>(ANSWER_KINDS.map((kind) => [kind, new SlotRing(SECONDS_KEPT)]));
  private readonly would = new SlotRing(SECONDS_KEPT);
  private readonly recentAnswers: AnswerRecord[] = [];
  private recentNext = 0;

  constructor(private readonly now: () => number = Date.now) {}

  sessionStarted(): void {
    this.sessions.add(Math.floor(this.now() / 1000));
  }

  answered(record: AnswerRecord): void {
    const second = Math.floor(record.time / 1000);
    this.answers.get(record.answer)!.add(second);
    if (record.would) this.would.add(second);
    // Allow-list answers are counted, not listed: every trusted relay's session has one, and they
    // would push the refusals and delays an operator looks for out of the list within seconds.
    if (record.answer === 'ok') return;
    // A ring: the oldest record is overwritten, nothing is allocated but the record itself.
    if (this.recentAnswers.length < RECENT_KEPT) this.recentAnswers.push(record);
    else this.recentAnswers[this.recentNext] = record;
    this.recentNext = (this.recentNext + 1) % RECENT_KEPT;
  }

  /** The last `limit` refusals and delays, newest first. */
  recent(limit = RECENT_KEPT): AnswerRecord[] {
    const n = this.recentAnswers.length;
    const out: AnswerRecord[] = [];
    for (let i = 1; i <= Math.min(limit, n); i++) out.push(this.recentAnswers[(this.recentNext - i + n * 2) % n]!);
    return out;
  }

  /** Sessions and answers over the last `minutes` (up to 60): the seconds up to and including the current one. */
  window(minutes: number): ActivityWindow {
    const second = Math.floor(this.now() / 1000);
    const seconds = minutes * 60;
    const answers = Object.fromEntries(ANSWER_KINDS.map((kind) => [kind, this.answers.get(kind)!.total(second, seconds)])) as Record<AnswerKind, number>;
    return { minutes, sessions: this.sessions.total(second, seconds), answers, would: this.would.total(second, seconds) };
  }

  timeline(): Timeline {
    const nowMs = this.now();
    const second = Math.floor(nowMs / 1000);
    const minute = Math.floor(nowMs / 60_000);
    // The chart's minutes are calendar minutes: each the sum of its 60 seconds (the current one so far).
    const firstMinute = minute - MINUTES_KEPT + 1;
    const perMinute = (ring: SlotRing): number[] => Array.from({ length: MINUTES_KEPT }, (_, m) => ring.total((firstMinute + m) * 60 + 59, 60));
    const kinds = Object.fromEntries(ANSWER_KINDS.map((kind) => [kind, perMinute(this.answers.get(kind)!)])) as Record<AnswerKind, number[]>;
    return {
      sessionsPerSecond: { start: second - SECONDS_KEPT + 1, values: this.sessions.series(second, SECONDS_KEPT) },
      answersPerMinute: { start: firstMinute * 60, kinds },
    };
  }
}
