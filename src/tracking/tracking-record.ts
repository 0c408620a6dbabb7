// The tracking log's shape: one record per message, or per session that ended without one; and what
// a store of them must do (write batches, find by filter, prune). Shared by the SQLite and PostgreSQL stores.

/** How a recipient, a message or a session ended. */
export type TrackedAnswer = 'accepted' | 'delayed' | 'tempfail' | 'reject' | 'discard' | 'quit';

export interface TrackedRecipient {
  address: string;
  answer: TrackedAnswer;
  /** The reply code and text sent for this recipient, when refused. */
  reply?: string;
}

export interface TrackedKey {
  key: string;
  score: number;
}

export interface TrackingRecord {
  /** Assigned by the store; absent on records not yet written. */
  id?: number;
  /** When the message or session ended, milliseconds since the epoch. */
  time: number;
  /** The MTA host (macro j) and daemon (macro {daemon_name}), when the MTA says. */
  mtaHost?: string;
  daemon?: string;
  /** Floodgate's connection id: together with time and mtaHost it names the session. */
  session: string;
  queueId?: string;
  clientIp?: string;
  clientName?: string;
  /** Reverse-DNS grade, when a rule read it (none, unconfirmed, dynamic, ok...). */
  reverseDns?: string;
  helo?: string;
  authUser?: string;
  /** '' for the null sender <>; absent when the session ended before MAIL. */
  sender?: string;
  recipients: TrackedRecipient[];
  /** The final answer: of the message, or of the session (at CONNECT, HELO, MAIL, RCPT, or a client that quit). */
  answer: TrackedAnswer;
  /** Where the final answer was given. */
  stage: 'connect' | 'helo' | 'mail' | 'rcpt' | 'header' | 'eom' | 'quit';
  /** Tarpit time served across the session's events. */
  delayMs: number;
  /** Rules that fired, in order, without repeats. */
  rules: string[];
  /** The keys counted at the decisive event and their scores then. */
  keys: TrackedKey[];
  /** DNS lists that listed the client or its names. */
  dnsLists: string[];
  /** Message size in bytes, when the body was read. */
  size?: number;
  messageId?: string;
  /** Only with tracking.subject: true (subjects are personal data). */
  subject?: string;
  attachments?: string[];
}

export interface TrackingFilter {
  from?: string;
  to?: string;
  /** An address, or a network in CIDR notation. */
  ip?: string;
  queueId?: string;
  answer?: TrackedAnswer;
  rule?: string;
  /** Milliseconds since the epoch, inclusive. */
  since?: number;
  until?: number;
  /** Newest first, at most this many. */
  limit: number;
}

/**
 * A store takes its batches as bytes it encoded itself (SQLite: lines of rows; PostgreSQL: the
 * records' JSON), in parts made while records arrive. The writer then holds a part instead of the
 * records it came from, which are garbage while still young, and a part's bytes live outside the
 * JavaScript heap: held as records (or as strings) until their batch was written, they were copied
 * and promoted by every scavenge (at 1,800 sessions/s a mean pause of 1.54 ms against 1.12-1.27
 * with tracking off).
 */
export interface TrackingStore {
  /** Records a batch should hold: what one transaction of this store writes best without holding the event loop long. */
  readonly batchSize: number;
  /** The records as one part of a batch. RangeError, before anything is written, for a record no store could hold. */
  encode(records: readonly TrackingRecord[]): Buffer;
  /** Writes the parts (each from encode) in one transaction; rejects when the database fails (the caller counts the drop). */
  writeEncoded(parts: readonly Buffer[]): Promise<void>;
  /** encode and writeEncoded at once: a RangeError rejects before anything is written. */
  write(records: readonly TrackingRecord[]): Promise<void>;
  /** Newest first. */
  find(filter: TrackingFilter): Promise<TrackingRecord[]>;
  get(id: number): Promise<TrackingRecord | undefined>;
  /** Deletes records older than `before` (ms), then the oldest beyond `maxBytes` when given; returns how many went. */
  prune(before: number, maxBytes?: number): Promise<number>;
  close(): Promise<void>;
}
