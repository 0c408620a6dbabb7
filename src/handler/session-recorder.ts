// Gathers what happened in one SMTP session into tracking records: one per message, or one for a
// session that ended without a message (refused at CONNECT, HELO, MAIL or RCPT, or a client that quit).
import type { MessageContent } from '../content/message-content';
import type { Facts, RuleEvent, ThresholdAction } from '../rules/rule-set';
import type { SessionContext } from '../session/handler';
import type { Evaluation } from '../engine/scoring-engine';
import { normaliseAddress } from '../net/normalise';
import type { TrackedAnswer, TrackedRecipient, TrackingRecord } from '../tracking/tracking-record';

/**
 * What one connection has gathered so far; the message part is reset at each message's end. The
 * collections are made when first needed: most sessions fire no rule and are on no DNS list, and
 * this runs for every session.
 */
interface SessionState {
  recorded: boolean;
  refusal?: { answer: TrackedAnswer; stage: TrackingRecord['stage'] };
  reverseDns?: string;
  delayMs: number;
  rules?: Set<string>;
  keys?: Map<string, number>;
  dnsLists?: Set<string>;
  recipients?: TrackedRecipient[];
  /** The sender as the facts of the message's events normalised it. */
  sender?: string;
  mailAnswer?: TrackedAnswer;
  /** A content rule refused the message at the end of its header block (the MTA then aborts it). */
  headerAnswer?: TrackedAnswer;
}

const REFUSALS: Partial<Record<ThresholdAction['kind'], TrackedAnswer>> = { tempfail: 'tempfail', reject: 'reject', discard: 'discard' };

export class SessionRecorder {
  private readonly sessions = new WeakMap<SessionContext, SessionState>();

  constructor(
    private readonly emit: (record: TrackingRecord) => void,
    private readonly now: () => number = Date.now,
    private readonly withSubject = false,
  ) {}

  /** One evaluated event and the answer given to it (before mode: observe turned it into continue). */
  event(ctx: SessionContext, event: RuleEvent, facts: Facts, action: ThresholdAction, evaluation: Evaluation | undefined, given: ThresholdAction): void {
    const state = this.state(ctx);
    if (evaluation) {
      for (const rule of evaluation.matched) (state.rules ??= new Set()).add(rule.name);
      if (evaluation.kind === 'scored') for (const { update, score } of evaluation.scored) (state.keys ??= new Map()).set(update.key, Math.round(score * 100) / 100);
    }
    if (facts.dnsbl) for (const list of facts.dnsbl.listedOn) (state.dnsLists ??= new Set()).add(list);
    if (facts.rhsbl) for (const list of facts.rhsbl.listedOn) (state.dnsLists ??= new Set()).add(list);
    if (facts.reverseDns) state.reverseDns = facts.reverseDns;
    if (facts.sender !== undefined) state.sender = facts.sender;
    if (action.kind === 'delay') state.delayMs += action.seconds * 1000;
    const refused = REFUSALS[given.kind];
    if (event === 'rcpt') {
      const recipient: TrackedRecipient = { address: facts.recipient ?? '', answer: refused ?? (given.kind === 'delay' ? 'delayed' : 'accepted') };
      const reply = replyOf(given);
      if (reply !== undefined) recipient.reply = reply;
      (state.recipients ??= []).push(recipient);
    } else if (event === 'mail') {
      state.mailAnswer = refused;
    } else if (event === 'header') {
      state.headerAnswer = refused;
    } else if (refused && (event === 'connect' || event === 'helo')) {
      state.refusal = { answer: refused, stage: event };
    }
  }

  /** The message's end of data was answered: its record, with what was read of the message itself. */
  messageEnded(ctx: SessionContext, given: ThresholdAction, content?: MessageContent): void {
    const state = this.state(ctx);
    const refused = REFUSALS[given.kind];
    const answer: TrackedAnswer = refused ?? (state.delayMs > 0 ? 'delayed' : 'accepted');
    this.write(ctx, state, answer, 'eom', content);
  }

  /** The message ended without an end of data (refused, RSET, the client left): its record. */
  messageAborted(ctx: SessionContext): void {
    const state = this.sessions.get(ctx);
    const recipients = state?.recipients ?? [];
    if (!state || (state.mailAnswer === undefined && recipients.length === 0 && ctx.message === undefined)) return;
    if (state.mailAnswer) return this.write(ctx, state, state.mailAnswer, 'mail');
    if (state.headerAnswer) return this.write(ctx, state, state.headerAnswer, 'header');
    const refused = recipients.filter((r) => r.answer !== 'accepted' && r.answer !== 'delayed');
    if (recipients.length > 0 && refused.length === recipients.length) return this.write(ctx, state, refused[refused.length - 1]!.answer, 'rcpt');
    this.write(ctx, state, 'quit', 'quit');
  }

  /** The connection is over: a record for a session that produced none. */
  sessionClosed(ctx: SessionContext): void {
    const state = this.sessions.get(ctx);
    if (state?.recorded) return;
    const current = state ?? this.state(ctx);
    // A message the session layer never opened (its MAIL refused) still has its answers here.
    if (current.mailAnswer) this.write(ctx, current, current.mailAnswer, 'mail');
    else if (current.refusal) this.write(ctx, current, current.refusal.answer, current.refusal.stage);
    else this.write(ctx, current, 'quit', 'quit');
    this.sessions.delete(ctx);
  }

  private state(ctx: SessionContext): SessionState {
    let state = this.sessions.get(ctx);
    if (!state) {
      state = { recorded: false, delayMs: 0 };
      this.sessions.set(ctx, state);
    }
    return state;
  }

  /** Emits the record; built by assignment, not by spreading one small object per field (it runs for every session). */
  private write(ctx: SessionContext, state: SessionState, answer: TrackedAnswer, stage: TrackingRecord['stage'], content?: MessageContent): void {
    const connect = ctx.connect;
    const message = ctx.message;
    const keys: TrackingRecord['keys'] = [];
    if (state.keys) for (const [key, score] of state.keys) keys.push({ key, score });
    const record: TrackingRecord = {
      time: this.now(),
      session: ctx.connectionId,
      recipients: state.recipients ?? [],
      answer,
      stage,
      delayMs: state.delayMs,
      rules: state.rules ? [...state.rules] : [],
      keys,
      dnsLists: state.dnsLists ? [...state.dnsLists] : [],
    };
    setText(record, 'mtaHost', ctx.macro('j'));
    setText(record, 'daemon', ctx.macro('{daemon_name}'));
    setText(record, 'queueId', ctx.macro('i'));
    if (connect && (connect.family === 'inet' || connect.family === 'inet6')) record.clientIp = connect.address;
    if (connect && !connect.hostname.startsWith('[')) record.clientName = connect.hostname;
    setText(record, 'reverseDns', state.reverseDns);
    setText(record, 'helo', ctx.helo);
    setText(record, 'authUser', ctx.macro('{auth_authen}'));
    // Normalised as the rules' facts are (and as floodgate track's --from is), so that a search finds it.
    if (message) record.sender = state.sender ?? normaliseAddress(message.sender);
    if (message && message.bodyBytes > 0) record.size = message.bodyBytes;
    if (content) {
      setText(record, 'messageId', content.messageId);
      if (this.withSubject) setText(record, 'subject', content.subject);
      if (content.attachments.length > 0) record.attachments = content.attachments.map((a) => a.name ?? `(${a.type})`);
    }
    this.emit(record);
    state.recorded = true;
    // The next message on this connection starts afresh; the connection's own facts stay.
    state.rules = undefined;
    state.keys = undefined;
    state.recipients = undefined;
    state.sender = undefined;
    state.mailAnswer = undefined;
    state.headerAnswer = undefined;
    state.delayMs = 0;
  }
}

function replyOf(action: ThresholdAction): string | undefined {
  if ((action.kind !== 'tempfail' && action.kind !== 'reject') || !action.reply) return undefined;
  const { code, ext, text } = action.reply;
  return `${code}${ext ? ` ${ext}` : ''} ${[text].flat().join(' ')}`;
}

/** A text field of the record, left out when empty. */
function setText(record: TrackingRecord, name: 'mtaHost' | 'daemon' | 'queueId' | 'reverseDns' | 'helo' | 'authUser' | 'messageId' | 'subject', value: string | undefined): void {
  if (value !== undefined && value !== '') record[name] = value;
}
