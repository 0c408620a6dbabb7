// What an application plugs into a milter session: per-stage callbacks and the verdicts they return.
import type { ClientFamily } from '../milter/commands';
import type { MilterNeeds } from '../milter/negotiation';
import type { Modification } from '../milter/replies';
import type { RejectCode, SmtpReply, TempfailCode } from '../milter/reply-text';

export type Decision =
  | { kind: 'continue' }
  | { kind: 'accept' }
  | { kind: 'discard' }
  | { kind: 'reject'; reply?: SmtpReply<RejectCode> }
  | { kind: 'tempfail'; reply?: SmtpReply<TempfailCode> };

/** Discard has no meaning before a message exists (Postfix ignores it at CONNECT and HELO). */
export type ConnectionDecision = Exclude<Decision, { kind: 'discard' }>;

/** A decision, or a decision given only after a non-blocking delay (a tarpit). */
export type Verdict<D extends Decision = Decision> = D | { kind: 'delay'; seconds: number; then: D };

/** Body chunks may also be answered with skip: no more chunks, straight to end of message. */
export type BodyVerdict = Verdict | { kind: 'skip' };

export interface EomResult {
  verdict: Verdict;
  modifications?: readonly Modification[];
}

export interface ConnectInfo {
  /** Reverse-DNS name, or the bracketed address when the MTA has none (`[192.0.2.1]`). */
  hostname: string;
  family: ClientFamily;
  /** IP address without Sendmail's `IPv6:` prefix, the socket path for unix, '' for unknown. */
  address: string;
  port: number;
}

export interface MessageState {
  /** 1 for the first message of the connection. */
  readonly index: number;
  sender: string;
  senderArgs: string[];
  /** Recipients this milter did not refuse, in RCPT order. */
  recipients: string[];
  headerCount: number;
  bodyBytes: number;
}

/** Read-only view of one connection's state handed to every callback. */
export interface SessionContext {
  readonly connectionId: string;
  readonly mta: 'postfix' | 'sendmail' | 'unknown';
  readonly connect: ConnectInfo | undefined;
  /** When the MTA announced this SMTP session (its CONNECT), ms since the epoch. */
  readonly connectedAt: number | undefined;
  readonly helo: string | undefined;
  readonly message: Readonly<MessageState> | undefined;
  macro(name: string): string | undefined;
}

type Maybe<T> = T | Promise<T>;

export interface MilterHandler {
  /** Which stages, actions and macros to negotiate; read once per new MTA connection. */
  needs(): MilterNeeds;
  connect?(ctx: SessionContext): Maybe<Verdict<ConnectionDecision>>;
  helo?(ctx: SessionContext, name: string): Maybe<Verdict<ConnectionDecision>>;
  mail?(ctx: SessionContext, sender: string, args: readonly string[]): Maybe<Verdict>;
  rcpt?(ctx: SessionContext, recipient: string, args: readonly string[]): Maybe<Verdict>;
  data?(ctx: SessionContext): Maybe<Verdict>;
  header?(ctx: SessionContext, name: string, value: string): Maybe<Verdict>;
  eoh?(ctx: SessionContext): Maybe<Verdict>;
  body?(ctx: SessionContext, chunk: Buffer): Maybe<BodyVerdict>;
  eom?(ctx: SessionContext): Maybe<EomResult>;
  unknown?(ctx: SessionContext, line: string): Maybe<Verdict>;
  /** The message ended without a decision at end of message (RSET, a refusal, a dropped client). */
  abort?(ctx: SessionContext): Maybe<void>;
  /** The MTA connection is over (QUIT, QUIT_NC, EOF or a protocol error). */
  close?(ctx: SessionContext): Maybe<void>;
}

export const CONTINUE: Decision = Object.freeze({ kind: 'continue' });
