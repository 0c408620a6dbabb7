// The milter handler of the product: each SMTP event becomes facts, points, a verdict and side actions.
//
// The parts: verdicts.ts (rules' actions to milter verdicts, the stages to negotiate), side-actions.ts
// (logs, alerts, header marks, deleted keys), store-health.ts (on_store_error and its log lines).
// This file only routes each negotiated event through them.
import type { Logger } from '../log/logger';
import type { Facts, RuleEvent, ThresholdAction } from '../rules/rule-set';
import type { ConnectionDecision, EomResult, MilterHandler, SessionContext, Verdict } from '../session/handler';
import type { Evaluation, ScoringEngine } from '../engine/scoring-engine';
import { factsFor, type EventDetail } from './facts';
import { allowedWithoutLookups } from '../engine/plan';
import type { ReputationChecks } from '../reputation/reputation-checks';
import type { AlertSink } from './alerter';
import { answerLogFields, answerRecord } from './answer-record';
import { UNOBSERVED, type ScoringObserver } from './scoring-observer';
import { SessionRecorder } from './session-recorder';
import { SideActions } from './side-actions';
import type { TrackingRecord } from '../tracking/tracking-record';
import { StoreHealth, type StoreErrorPolicy } from './store-health';
import { connectionVerdict, needsOf, toVerdict, verdictAction } from './verdicts';

export interface ScoringHandlerOptions {
  engine: ScoringEngine;
  logger: Logger;
  onStoreError: StoreErrorPolicy;
  alerter?: AlertSink;
  /** DNS lists, reverse DNS and the recipient map, when the rules read them. */
  reputation?: ReputationChecks;
  now?: () => number;
  /** Told of every answer, rule match, threshold crossing, store failure and alert (metrics, the status page). */
  observer?: ScoringObserver;
  /**
   * `mode: observe`: every answer is logged, recorded and counted as what Floodgate would have done,
   * and none is given (the MTA hears continue); alerts, header marks and deletions are left undone.
   */
  observeOnly?: boolean;
  /** Tracking (issue 16): each message's and each message-less session's record goes here. */
  track?: (record: TrackingRecord) => void;
}

const CONTINUE_ACTION: ThresholdAction = Object.freeze({ kind: 'continue' });

export function scoringHandler(options: ScoringHandlerOptions): MilterHandler {
  const { engine, logger } = options;
  const ruleSet = engine.ruleSet;
  const observer = options.observer ?? UNOBSERVED;
  const now = options.now ?? Date.now;
  const observeOnly = options.observeOnly === true;
  const storeHealth = new StoreHealth(logger, options.onStoreError, observer);
  const sideActions = new SideActions(engine, logger, observer, now, options.alerter);
  const lookups = options.reputation && !options.reputation.idle ? options.reputation : undefined;
  const recorder = options.track ? new SessionRecorder(options.track, now) : undefined;
  const needs = needsOf(ruleSet, recorder !== undefined);

  /** The engine's answer with the evaluation behind it, or on_store_error's answer when the store fails. */
  async function decide(ctx: SessionContext, event: RuleEvent, facts: Facts): Promise<{ action: ThresholdAction; evaluation?: Evaluation }> {
    let evaluation: Evaluation;
    try {
      evaluation = await engine.evaluate(facts);
    } catch (error) {
      return { action: storeHealth.failed(ctx.connectionId, error) };
    }
    storeHealth.answered(ctx.connectionId, evaluation);
    for (const rule of evaluation.matched) observer.ruleMatched(rule.name);
    if (evaluation.kind === 'scored' && evaluation.scored.length > 0) observer.keysScored(evaluation.scored, now());
    for (const { rule, keys } of evaluation.observed) {
      logger.info('observe: rule matched', { conn: ctx.connectionId, event, rule: rule.name, ...(rule.ok ? { would: 'ok' } : { keys }), ...(rule.action ? { would: rule.action.kind } : {}) });
    }
    if (evaluation.kind === 'allowed') return { action: { kind: 'ok' }, evaluation };
    await sideActions.run(ctx, event, facts, evaluation, !observeOnly);
    return { action: evaluation.outcome.action, evaluation };
  }

  async function evaluate(ctx: SessionContext, event: RuleEvent, detail?: EventDetail): Promise<ThresholdAction> {
    const plain = factsFor(ctx, event, detail);
    const facts = lookups && !allowedWithoutLookups(ruleSet, plain) ? await lookups.enrich(ctx, plain) : plain;
    const { action, evaluation } = await decide(ctx, event, facts);
    const given = observeOnly ? CONTINUE_ACTION : action;
    recorder?.event(ctx, event, facts, action, evaluation, given);
    if (action.kind === 'continue') return action;
    const record = answerRecord(ctx, facts, action, evaluation, observeOnly, now());
    observer.answered(record);
    logger.info(observeOnly ? 'observe: would answer' : 'answer', answerLogFields(record));
    return given;
  }

  const onEvent = (event: RuleEvent) => async (ctx: SessionContext, detail?: EventDetail): Promise<Verdict> => {
    return toVerdict(await evaluate(ctx, event, detail), event);
  };
  /**
   * No rule counts this event, but later rules read DNS: start the lookups now, while the MTA goes
   * on with the session, so that they are (nearly) done when the rules need them.
   */
  const startLookups = (event: 'connect' | 'helo') => async (ctx: SessionContext): Promise<Verdict<ConnectionDecision>> => {
    const plain = factsFor(ctx, event);
    if (lookups && !allowedWithoutLookups(ruleSet, plain)) lookups.start(ctx, plain);
    return { kind: 'continue' };
  };
  /** CONNECT and HELO: scored when rules count them, else only the start of the lookups, else not handled. */
  const connectionEvent = (event: 'connect' | 'helo'): ((ctx: SessionContext) => Promise<Verdict<ConnectionDecision>>) | undefined => {
    if (ruleSet.events.has(event)) {
      const handle = onEvent(event);
      return async (ctx) => connectionVerdict(await handle(ctx));
    }
    return lookups ? startLookups(event) : undefined;
  };
  const connect = connectionEvent('connect');
  const helo = connectionEvent('helo');
  const mail = onEvent('mail');
  const rcpt = onEvent('rcpt');
  const eomEvent = onEvent('eom');

  return {
    needs: () => needs,
    ...(connect ? { connect } : {}),
    ...(helo ? { helo } : {}),
    // With tracking every MAIL and RCPT is evaluated, so that each recipient's answer is recorded.
    ...(ruleSet.events.has('mail') || recorder ? { mail: (ctx: SessionContext) => mail(ctx) } : {}),
    ...(ruleSet.events.has('rcpt') || recorder ? { rcpt: (ctx: SessionContext, recipient: string) => rcpt(ctx, { recipient }) } : {}),
    async eom(ctx: SessionContext): Promise<EomResult> {
      const verdict = ruleSet.events.has('eom') ? await eomEvent(ctx, { size: ctx.message?.bodyBytes }) : { kind: 'continue' as const };
      recorder?.messageEnded(ctx, verdictAction(verdict));
      return { verdict, modifications: sideActions.takeMarks(ctx) };
    },
    ...(recorder
      ? {
          abort: (ctx: SessionContext) => recorder.messageAborted(ctx),
          close: (ctx: SessionContext) => recorder.sessionClosed(ctx),
        }
      : {}),
  };
}
