// The score store's contract: decaying per-key scores, the interface every backend implements, and its error.
//
// Semantics, shared by every backend (the arithmetic lives in ./decay.ts):
//
// - A key is an opaque string such as `ip:192.0.2.1`, `sender:a@example.org` or
//   `ip+sender:192.0.2.1|a@example.org`. Its record is {score, updatedAt, halfLifeMs, expiresAt}, times in ms.
// - A score decays exponentially with the key's half-life:
//       score(t) = score(t0) * 2^(-(t - t0) / halfLifeMs)
//   so one half-life halves it and two quarter it, exactly (powers of two are exact in doubles).
//   Negative scores (allow-list weights) decay towards zero the same way.
// - expiresAt is when |score| decays below EPSILON (0.01):
//       expiresAt = ceil(updatedAt + halfLifeMs * log2(|score| / EPSILON))
//   A record is expired, and reads as absent, from `now >= expiresAt`; sweep() deletes it from the disk.
//   An update whose result has |score| < EPSILON deletes the record instead of writing it, so no key
//   lives forever and storage stays bounded however many keys attackers invent (PRODUCT lesson 1).
// - add() decays the stored score to `now`, adds the points, and writes value and expiry together in
//   one atomic write (never INCR-then-EXPIRE). The half-life passed in replaces the stored one from
//   then on; the past is decayed with the old one.
// - A cap stops refused traffic from inflating its own score (PRODUCT lesson 2: a tempfailed message
//   retried later must not lock its sender out): when the decayed score is already >= cap nothing is
//   added or written; below the cap the points are added in full, even if the result passes the cap.
// - Time that goes backwards (sessions handing in slightly out-of-order `now`s) decays nothing: the
//   stored updatedAt never moves back, so a late event can never make a score grow by "un-decaying".
// - Arguments are checked: a non-finite or negative `now`, a half-life that is not a positive finite
//   number, non-finite points or cap, or an empty key reject with RangeError (a bug, not an outage).
// - Any failure of the backend itself rejects with StoreError (FG_ERR_STORE_UNAVAILABLE), and so
//   does a call that does not answer in time when the store is wrapped by withTimeout().

export { StoreError } from './errors';
import type { MaybePromise } from '../maybe-promise';

/** Below this absolute value a score counts as zero and its record is deleted. */
export const EPSILON = 0.01;

export interface ScoreRecord {
  key: string;
  /** Decayed to the `now` of the call that returned it. */
  score: number;
  updatedAt: number;
  halfLifeMs: number;
  expiresAt: number;
}

/** One key's share of an event, for addMany(). */
export interface ScoreUpdate {
  key: string;
  points: number;
  halfLifeMs: number;
  cap?: number;
}

export interface ScoreStore {
  /**
   * Atomically per key: decay the stored score to `now`; if `cap` is given and the decayed score is
   * already >= cap, add nothing (refused traffic must not keep inflating a score); else add `points`;
   * write value and expiry together. Returns the new (decayed + added) score.
   */
  add(key: string, points: number, halfLifeMs: number, now: number, cap?: number): Promise<number>;
  /**
   * Several adds at once (one event touching several keys); same per-key semantics, results in order.
   * A key named twice sees its earlier update. LevelDB: one batch write for all of them.
   * The mail path's call: a backend that has every key in memory (LevelDB's cache, the memory store)
   * returns the scores at once, without a promise, so that the event is decided in the same turn;
   * otherwise a promise. Callers take both, and errors both thrown and as rejections.
   */
  addMany(updates: ReadonlyArray<ScoreUpdate>, now: number): MaybePromise<number[]>;
  /** Current decayed record, or undefined when absent or expired. */
  get(key: string, now: number): Promise<ScoreRecord | undefined>;
  /** Removes a key; true when a record was stored (even an expired one not yet swept). */
  delete(key: string): Promise<boolean>;
  /**
   * Highest current scores first, optionally only keys starting with `prefix` (e.g. 'ip:'), at most n;
   * expired records are left out. Cost: a scan of every stored record under the prefix (LevelDB reads
   * them all from disk, ~1 s per million), so it is for the operator's "hottest keys", not the mail path.
   */
  top(n: number, now: number, prefix?: string): Promise<ScoreRecord[]>;
  /** Deletes every record expired at `now`; returns how many. */
  sweep(now: number): Promise<number>;
  /** Number of stored records (live or not yet swept). */
  size(): Promise<number>;
  /** Waits for calls in flight, then releases the backend; later calls reject with StoreError. */
  close(): Promise<void>;
}

