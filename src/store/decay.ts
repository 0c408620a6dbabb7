// The score arithmetic every backend shares: decay, expiry, argument checks and one key's update step.
import { EPSILON, type ScoreRecord, type ScoreStore, type ScoreUpdate } from './score-store';

/** What a backend keeps per key (the key itself is the backend's). */
export interface StoredScore {
  score: number;
  updatedAt: number;
  halfLifeMs: number;
  expiresAt: number;
}

/**
 * The latest expiry a record can have: 15 decimal digits, so LevelDB's zero-padded expiry index sorts
 * as numbers do and stays below 2^53. Reached only by absurd half-lives (over ~1000 years at score 1e300).
 */
export const MAX_EXPIRES_AT = 999_999_999_999_999;

export function decayedScore(stored: Pick<StoredScore, 'score' | 'updatedAt' | 'halfLifeMs'>, now: number): number {
  const elapsed = now - stored.updatedAt;
  // Out-of-order `now`s decay nothing rather than grow the score.
  if (elapsed <= 0) return stored.score;
  return stored.score * Math.pow(2, -elapsed / stored.halfLifeMs);
}

export function expiryOf(score: number, updatedAt: number, halfLifeMs: number): number {
  const expiresAt = Math.ceil(updatedAt + halfLifeMs * Math.log2(Math.abs(score) / EPSILON));
  return Math.min(expiresAt, MAX_EXPIRES_AT);
}

export function isExpired(stored: StoredScore, now: number): boolean {
  return now >= stored.expiresAt;
}

/** The record as callers see it at `now`, or undefined when expired. */
export function liveRecord(key: string, stored: StoredScore | undefined, now: number): ScoreRecord | undefined {
  if (stored === undefined || isExpired(stored, now)) return undefined;
  return { key, score: decayedScore(stored, now), updatedAt: stored.updatedAt, halfLifeMs: stored.halfLifeMs, expiresAt: stored.expiresAt };
}

/** The outcome of one key's update: the score to return and what to store (null: delete; 'unchanged': no write). */
export interface UpdateStep {
  score: number;
  next: StoredScore | null | 'unchanged';
}

/** One add() on a key whose current stored state is `stored`; pure, so both backends agree exactly. */
export function applyUpdate(stored: StoredScore | undefined, update: ScoreUpdate, now: number): UpdateStep {
  const live = stored !== undefined && !isExpired(stored, now) ? stored : undefined;
  const current = live === undefined ? 0 : decayedScore(live, now);
  if (update.cap !== undefined && current >= update.cap) return { score: current, next: 'unchanged' };
  const score = current + update.points;
  if (Math.abs(score) < EPSILON) return { score, next: stored === undefined ? 'unchanged' : null };
  const updatedAt = live === undefined ? now : Math.max(live.updatedAt, now);
  return { score, next: { score, updatedAt, halfLifeMs: update.halfLifeMs, expiresAt: expiryOf(score, updatedAt, update.halfLifeMs) } };
}

export function checkNow(now: number): void {
  if (!Number.isFinite(now) || now < 0) throw new RangeError(`score store: now must be a finite, non-negative time in ms, got ${now}`);
}

export function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new RangeError('score store: a key must be a non-empty string');
}

export function checkUpdate(update: ScoreUpdate): void {
  checkKey(update.key);
  if (!Number.isFinite(update.points)) throw new RangeError(`score store: points must be finite, got ${update.points} for ${update.key}`);
  if (!Number.isFinite(update.halfLifeMs) || update.halfLifeMs <= 0) {
    throw new RangeError(`score store: halfLifeMs must be a positive finite number, got ${update.halfLifeMs} for ${update.key}`);
  }
  if (update.cap !== undefined && !Number.isFinite(update.cap)) throw new RangeError(`score store: cap must be finite, got ${update.cap} for ${update.key}`);
}

/** Checks a batch for addMany(): RangeError on a caller's bug. */
export function checkBatch(updates: ReadonlyArray<ScoreUpdate>, now: number): void {
  checkNow(now);
  updates.forEach(checkUpdate);
}

/** Checks a batch and returns copies: a backend that applies them later applies exactly what was checked. */
export function checkedBatch(updates: ReadonlyArray<ScoreUpdate>, now: number): ScoreUpdate[] {
  checkBatch(updates, now);
  return copiesOf(updates);
}

export function copiesOf(updates: ReadonlyArray<ScoreUpdate>): ScoreUpdate[] {
  return updates.map(({ key, points, halfLifeMs, cap }) => ({ key, points, halfLifeMs, cap }));
}

/** add() for every backend: a single update is a batch of one. */
export async function addOne(store: Pick<ScoreStore, 'addMany'>, key: string, points: number, halfLifeMs: number, now: number, cap?: number): Promise<number> {
  const [score] = await store.addMany([{ key, points, halfLifeMs, cap }], now);
  return score!;
}

export function checkTopLimit(n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`score store: top(n) needs a non-negative integer, got ${n}`);
}
