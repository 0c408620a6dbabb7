// Runs recorded sessions through the rules as the live handler would have, on a simulated clock:
// CONNECT, HELO, then per message MAIL, each RCPT and end of message, at the times the log gives.
// `floodgate simulate` and `floodgate replay` both use it.
import type { Facts, RuleEvent, RuleSet, ThresholdAction } from '../rules/rule-set';
import type { SessionContext } from '../session/handler';
import { causeOf } from '../handler/answer-record';
import { factsFor } from '../handler/facts';
import { ScoringEngine, type Evaluation } from '../engine/scoring-engine';
import { MemoryStore } from '../store/memory-store';
import type { ReplayMessage, ReplaySession } from './mail-events';

/** A recipient's end: the rules' answers, or the MTA's own refusal. Named as in the tracking log. */
export type ReplayAnswer = 'accepted' | 'delayed' | 'tempfail' | 'reject' | 'discard' | 'rejected_by_mta';
export const REPLAY_ANSWERS: readonly ReplayAnswer[] = ['accepted', 'delayed', 'tempfail', 'reject', 'discard', 'rejected_by_mta'];

export interface RecipientOutcome {
  time: number;
  clientIp?: string;
  helo?: string;
  sender?: string;
  /** Absent for a message refused before any recipient (at CONNECT, HELO or MAIL). */
  recipient?: string;
  answer: ReplayAnswer;
  /** The rules behind a delay or refusal. */
  rules: string[];
  /** The event that decided. */
  event?: RuleEvent;
}

export interface EventStep {
  /** The session as the rules saw it (the DNS lookups of `--dns` are cached per context). */
  ctx: SessionContext;
  event: RuleEvent;
  recipient?: string;
  facts: Facts;
  evaluation: Evaluation;
}

/** Fills in DNS-list and reverse-DNS facts (`--dns`); without it they stay unknown. */
export type FactEnricher = (ctx: SessionContext, facts: Facts) => Promise<Facts>;

const REFUSAL: Partial<Record<ThresholdAction['kind'], ReplayAnswer>> = { tempfail: 'tempfail', reject: 'reject', discard: 'discard' };
/** How often (simulated time) expired scores leave the in-memory store: it holds only live keys. */
const SWEEP_EVERY_MS = 5 * 60_000;

export class SessionRunner {
  private clock = 0;
  private lastSweep = 0;
  private readonly engine: ScoringEngine;

  constructor(
    readonly ruleSet: RuleSet,
    private readonly enrich?: FactEnricher,
    private readonly store = new MemoryStore(),
  ) {
    this.engine = new ScoringEngine(ruleSet, store, () => this.clock);
  }

  /** The simulated time: never runs backwards, so decay never adds points. */
  get now(): number {
    return this.clock;
  }

  /** Every recipient's answer (one outcome for a message with none); `onStep` sees each evaluated event. */
  async run(session: ReplaySession, onStep?: (step: EventStep) => void): Promise<RecipientOutcome[]> {
    await this.advance(session.time);
    const outcomes: RecipientOutcome[] = [];
    const ctx = new ReplayContext(session);
    const evaluate = async (event: RuleEvent, time: number, recipient?: string, size?: number): Promise<Evaluation | undefined> => {
      if (!this.ruleSet.events.has(event)) return undefined;
      await this.advance(time);
      const plain = factsFor(ctx, event, { recipient, size }, time);
      const facts = this.enrich ? await this.enrich(ctx, plain) : plain;
      const evaluation = await this.engine.evaluate(facts);
      onStep?.({ ctx, event, ...(recipient === undefined ? {} : { recipient }), facts, evaluation });
      return evaluation;
    };
    // CONNECT and HELO: an allow-list answer lets the whole session through, a refusal stops it.
    let sessionEnd: Decided | undefined;
    let sessionDelayed = false;
    for (const event of ['connect', 'helo'] as const) {
      const decided = decision(await evaluate(event, session.time), event);
      if (decided.delayed) sessionDelayed = true;
      if (decided.final) {
        sessionEnd = decided;
        break;
      }
    }
    for (const message of session.messages) {
      ctx.message = message.sender === undefined ? undefined : { index: ctx.nextIndex(), sender: message.sender, senderArgs: message.size === undefined ? [] : [`SIZE=${message.size}`], recipients: [], headerCount: 0, bodyBytes: message.size ?? 0 };
      outcomes.push(...(await runMessage(ctx, message, sessionEnd, sessionDelayed, evaluate)));
    }
    return outcomes;
  }

  private async advance(time: number): Promise<void> {
    if (time > this.clock) this.clock = time;
    if (this.clock - this.lastSweep >= SWEEP_EVERY_MS) {
      this.lastSweep = this.clock;
      await this.store.sweep(this.clock);
    }
  }
}

type Evaluate = (event: RuleEvent, time: number, recipient?: string, size?: number) => Promise<Evaluation | undefined>;

/** One message's recipients: MAIL, each RCPT, end of message, as far as the answers let them go. */
async function runMessage(ctx: ReplayContext, message: ReplayMessage, sessionEnd: Decided | undefined, sessionDelayed: boolean, evaluate: Evaluate): Promise<RecipientOutcome[]> {
  const session = ctx.session;
  const base = { time: message.time, ...(session.clientIp ? { clientIp: session.clientIp } : {}), ...(session.helo !== undefined ? { helo: session.helo } : {}), ...(message.sender !== undefined ? { sender: message.sender } : {}) };
  const outcomes = message.recipients.map((r): RecipientOutcome => ({ ...base, time: r.time, recipient: r.address, answer: r.rejectedByMta ? 'rejected_by_mta' : 'accepted', rules: [] }));
  if (outcomes.length === 0) outcomes.push({ ...base, answer: 'accepted', rules: [] });
  const settle = (targets: RecipientOutcome[], decided: Decided) => {
    for (const o of targets) {
      if (o.answer === 'rejected_by_mta') continue;
      if (decided.answer === 'delayed' && o.answer !== 'accepted') continue;
      o.answer = decided.answer ?? o.answer;
      o.rules = decided.rules;
      o.event = decided.event;
    }
  };
  if (sessionEnd) {
    if (sessionEnd.answer) settle(outcomes, sessionEnd);
    return outcomes;
  }
  if (sessionDelayed) settle(outcomes, { final: false, delayed: true, answer: 'delayed', rules: [], event: 'connect' });
  const atMail = decision(await evaluate('mail', message.time), 'mail');
  if (atMail.delayed || atMail.final) settle(outcomes, atMail);
  if (atMail.final) return outcomes;
  for (const [i, r] of message.recipients.entries()) {
    ctx.rejectedRecipient = r.rejectedByMta;
    const atRcpt = decision(await evaluate('rcpt', r.time, r.address), 'rcpt');
    ctx.rejectedRecipient = false;
    if (atRcpt.delayed || atRcpt.answer) settle([outcomes[i]!], atRcpt);
    if (atRcpt.final && atRcpt.answer === undefined) return outcomes; // allow-listed: the rest of the message too
    if (atRcpt.final && atRcpt.answer === 'discard') {
      settle(outcomes, atRcpt);
      return outcomes;
    }
  }
  const accepted = outcomes.filter((o) => o.answer === 'accepted' || o.answer === 'delayed');
  if (accepted.length === 0 || message.recipients.length === 0) return outcomes;
  const atEom = decision(await evaluate('eom', message.time, undefined, message.size), 'eom');
  if (atEom.answer && atEom.answer !== 'delayed') settle(accepted, atEom);
  return outcomes;
}

interface Decided {
  /** No later event of this scope is evaluated (allow-list answer or refusal). */
  final: boolean;
  delayed: boolean;
  answer?: ReplayAnswer;
  rules: string[];
  event: RuleEvent;
}

function decision(evaluation: Evaluation | undefined, event: RuleEvent): Decided {
  if (!evaluation) return { final: false, delayed: false, rules: [], event };
  if (evaluation.kind === 'allowed') return { final: true, delayed: false, rules: [evaluation.rule.name], event };
  const action = evaluation.outcome.action;
  if (action.kind === 'continue') return { final: false, delayed: false, rules: [], event };
  const cause = causeOf(evaluation, action.kind);
  const rules = cause.rule ? cause.rule.split(',') : [];
  if (action.kind === 'delay') return { final: false, delayed: true, answer: 'delayed', rules, event };
  if (action.kind === 'ok') return { final: true, delayed: false, rules, event };
  // Discard has no meaning before a message: the MTA is told to continue.
  if (action.kind === 'discard' && (event === 'connect' || event === 'helo')) return { final: false, delayed: false, rules: [], event };
  return { final: true, delayed: false, answer: REFUSAL[action.kind], rules, event };
}

/** The milter session a recorded one would have been: what factsFor reads. */
class ReplayContext implements SessionContext {
  readonly connectionId = 'replay';
  readonly mta = 'unknown' as const;
  readonly connect: SessionContext['connect'];
  readonly helo: string | undefined;
  /** The session's age (session_age) runs from its logged start. */
  readonly connectedAt: number;
  message: SessionContext['message'];
  /** The RCPT being evaluated was refused by the MTA itself. */
  rejectedRecipient = false;
  private index = 0;

  constructor(readonly session: ReplaySession) {
    const ip = session.clientIp;
    this.connect = ip ? { hostname: session.clientName ?? `[${ip}]`, family: ip.includes(':') ? 'inet6' : 'inet', address: ip, port: 0 } : undefined;
    this.helo = session.helo;
    this.connectedAt = session.time;
  }

  nextIndex(): number {
    return ++this.index;
  }

  macro(name: string): string | undefined {
    if (name === '{auth_authen}') return this.session.authUser;
    // As Sendmail says of a recipient it refused itself (SMFIP_RCPT_REJ).
    if (name === '{rcpt_mailer}') return this.rejectedRecipient ? 'error' : undefined;
    return undefined;
  }
}
