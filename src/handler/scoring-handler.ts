// The milter handler of the product: each SMTP event becomes facts, points, a verdict and side actions.
import { Action } from '../milter/constants';
import type { EventStage, MilterNeeds } from '../milter/negotiation';
import type { Modification } from '../milter/replies';
import type { Facts, RuleEvent, ThresholdAction } from '../rules/rule-set';
import type { ConnectionDecision, Decision, EomResult, MilterHandler, SessionContext, Verdict } from '../session/handler';
import type { Logger } from '../log/logger';
import type { AlertSink } from './alerter';
import type { Evaluation, ScoringEngine } from './scoring-engine';
import { factsFor, type EventDetail } from './facts';
import { allowedWithoutLookups } from './plan';
import type { ReputationChecks } from '../reputation/reputation-checks';

export type StoreErrorPolicy = 'tempfail' | 'accept';

export interface ScoringHandlerOptions {
  engine: ScoringEngine;
  logger: Logger;
  onStoreError: StoreErrorPolicy;
  alerter?: AlertSink;
  /** DNS lists, reverse DNS and the recipient map, when the rules read them. */
  reputation?: ReputationChecks;
  now?: () => number;
  /** Counters for metrics; incremented here, exported elsewhere. */
  counters?: ScoringCounters;
}

export interface ScoringCounters {
  evaluations: number;
  storeErrors: number;
  alertsSent: number;
  decisions: Record<string, number>;
}

export function newCounters(): ScoringCounters {
  return { evaluations: 0, storeErrors: 0, alertsSent: 0, decisions: {} };
}

/** Message state the handler keeps per connection: header marks to add at end of message. */
interface MessageMarks {
  index: number;
  headers: Modification[];
}

export function scoringHandler(options: ScoringHandlerOptions): MilterHandler {
  const { engine, logger, alerter } = options;
  const ruleSet = engine.ruleSet;
  const now = options.now ?? Date.now;
  const counters = options.counters ?? newCounters();
  const marks = new WeakMap<SessionContext, MessageMarks>();
  let storeHealthy = true;

  const needs = computeNeeds(ruleSet.events, ruleSet.needsMessageSize, hasHeaderMarks());

  function hasHeaderMarks(): boolean {
    for (const settings of ruleSet.keyClasses.values()) if (settings.thresholds.some((t) => t.header)) return true;
    return false;
  }

  async function evaluate(ctx: SessionContext, event: RuleEvent, detail?: EventDetail): Promise<ThresholdAction> {
    const plain = factsFor(ctx, event, detail);
    const reputation = options.reputation && !options.reputation.idle && !allowedWithoutLookups(ruleSet, plain) ? options.reputation : undefined;
    const facts = reputation ? await reputation.enrich(ctx, plain) : plain;
    let evaluation: Evaluation;
    counters.evaluations++;
    try {
      evaluation = await engine.evaluate(facts);
      // Only an evaluation that reached the store proves it answers again (an allow-list hit does not).
      if (!storeHealthy && evaluation.kind === 'scored' && evaluation.updated > 0) {
        storeHealthy = true;
        logger.warn('score store answers again', { conn: ctx.connectionId });
      }
    } catch (error) {
      counters.storeErrors++;
      // Logged once per change of state, not once per message: an outage must not flood the log.
      if (storeHealthy) {
        storeHealthy = false;
        logger.error('score store failed, applying on_store_error', { conn: ctx.connectionId, code: (error as { code?: string }).code, error: String((error as Error).message), policy: options.onStoreError });
      }
      return options.onStoreError === 'accept' ? { kind: 'continue' } : { kind: 'tempfail' };
    }
    for (const { rule, keys } of evaluation.observed) {
      logger.info('observe: rule matched', { conn: ctx.connectionId, event, rule: rule.name, ...(rule.ok ? { would: 'ok' } : { keys }), ...(rule.action ? { would: rule.action.kind } : {}) });
    }
    if (evaluation.kind === 'allowed') {
      logger.info('allow-list', { conn: ctx.connectionId, event, rule: evaluation.rule.name, client: facts.clientIp });
      return { kind: 'ok' };
    }
    await sideActions(ctx, event, facts, evaluation);
    return evaluation.outcome.action;
  }

  async function sideActions(ctx: SessionContext, event: RuleEvent, facts: Facts, evaluation: Extract<Evaluation, { kind: 'scored' }>): Promise<void> {
    for (const rule of evaluation.outcome.rules) {
      logger.info('rule answer', { conn: ctx.connectionId, event, rule: rule.name, action: rule.action?.kind, client: facts.clientIp, ...reputationFields(facts) });
    }
    for (const reason of evaluation.outcome.reasons) {
      const t = reason.threshold;
      const action = t.action.kind;
      if (t.log || t.observe) {
        logger.info(t.observe ? 'observe: threshold' : 'threshold', { conn: ctx.connectionId, event, key: reason.key, score: round(reason.score), rules: reason.rules, action, ...(t.observe ? { observe: true } : {}), ...reputationFields(facts) });
      }
      if (t.observe) continue;
      if (t.mail && alerter?.alert({ key: reason.key, score: reason.score, action, rules: reason.rules, client: facts.clientIp, sender: facts.sender }, now())) counters.alertsSent++;
      if (t.header && ctx.message) {
        const m = marks.get(ctx);
        const current = m && m.index === ctx.message.index ? m : { index: ctx.message.index, headers: [] };
        current.headers.push({ kind: 'addHeader', name: t.header.name, value: t.header.value });
        marks.set(ctx, current);
      }
      if (t.delete) await engine.deleteKey(reason.key);
    }
  }

  function count(kind: string): void {
    counters.decisions[kind] = (counters.decisions[kind] ?? 0) + 1;
  }

  const onEvent = (event: RuleEvent) => async (ctx: SessionContext, detail?: EventDetail): Promise<Verdict> => {
    const action = await evaluate(ctx, event, detail);
    count(action.kind);
    return toVerdict(action, event);
  };
  const connect = onEvent('connect');
  const helo = onEvent('helo');
  const lookups = options.reputation && !options.reputation.idle ? options.reputation : undefined;
  /**
   * No rule counts this event, but later rules read DNS: start the lookups now, while the MTA goes
   * on with the session, so that they are (nearly) done when the rules need them.
   */
  const startLookups = (event: 'connect' | 'helo') => async (ctx: SessionContext): Promise<Verdict<ConnectionDecision>> => {
    const plain = factsFor(ctx, event);
    if (lookups && !allowedWithoutLookups(ruleSet, plain)) lookups.start(ctx, plain);
    return { kind: 'continue' };
  };
  const mail = onEvent('mail');
  const rcpt = onEvent('rcpt');
  const eomEvent = onEvent('eom');

  return {
    needs: () => needs,
    ...(ruleSet.events.has('connect') ? { connect: async (ctx: SessionContext) => connectionVerdict(await connect(ctx)) } : lookups ? { connect: startLookups('connect') } : {}),
    ...(ruleSet.events.has('helo') ? { helo: async (ctx: SessionContext) => connectionVerdict(await helo(ctx)) } : lookups ? { helo: startLookups('helo') } : {}),
    ...(ruleSet.events.has('mail') ? { mail: (ctx: SessionContext) => mail(ctx) } : {}),
    ...(ruleSet.events.has('rcpt') ? { rcpt: (ctx: SessionContext, recipient: string) => rcpt(ctx, { recipient }) } : {}),
    async eom(ctx: SessionContext): Promise<EomResult> {
      const verdict = ruleSet.events.has('eom') ? await eomEvent(ctx, { size: ctx.message?.bodyBytes }) : { kind: 'continue' as const };
      const m = marks.get(ctx);
      const modifications = m && ctx.message && m.index === ctx.message.index ? m.headers : [];
      marks.delete(ctx);
      return { verdict, modifications };
    },
  };
}

function computeNeeds(events: ReadonlySet<RuleEvent>, needsSize: boolean, headerMarks: boolean): MilterNeeds {
  // CONNECT and HELO carry the client's address, name and HELO that every later event's keys and
  // conditions may read, so they are always negotiated, whichever events the rules count.
  const stages = new Set<EventStage>(['connect', 'helo']);
  for (const event of events) if (event !== 'eom') stages.add(event);
  // The size is counted from body chunks: only then is the MTA asked to stream the body.
  if (needsSize) stages.add('body');
  return { stages, actions: headerMarks ? Action.ADDHDRS : 0, rejectedRecipients: events.has('rcpt') };
}

function toVerdict(action: ThresholdAction, event: RuleEvent): Verdict {
  switch (action.kind) {
    case 'ok':
      return { kind: 'accept' };
    case 'continue':
      return { kind: 'continue' };
    case 'delay':
      return { kind: 'delay', seconds: action.seconds, then: { kind: 'continue' } };
    case 'discard':
      return event === 'connect' || event === 'helo' ? { kind: 'continue' } : { kind: 'discard' };
    case 'tempfail':
      return action.reply ? { kind: 'tempfail', reply: action.reply } : { kind: 'tempfail' };
    case 'reject':
      return action.reply ? { kind: 'reject', reply: action.reply } : { kind: 'reject' };
  }
}

/** Discard has no meaning before a message: toVerdict already mapped it to continue there. */
function connectionVerdict(verdict: Verdict): Verdict<ConnectionDecision> {
  return verdict as Verdict<Exclude<Decision, { kind: 'discard' }>>;
}

/** What the lookups found, for the decision's log line: an operator must see why a list-based rule fired. */
function reputationFields(facts: Facts): Record<string, unknown> {
  return {
    ...(facts.dnsbl && facts.dnsbl.listedOn.size > 0 ? { dnsbl: [...facts.dnsbl.listedOn], dnsbl_score: facts.dnsbl.score } : {}),
    ...(facts.rhsbl && facts.rhsbl.listedOn.size > 0 ? { rhsbl: [...facts.rhsbl.listedOn], rhsbl_score: facts.rhsbl.score } : {}),
    ...(facts.reverseDns ? { reverse_dns: facts.reverseDns } : {}),
    ...(facts.recipientKnown === false ? { recipient_unknown: facts.recipient } : {}),
  };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
