// The milter handler of the product: each SMTP event becomes facts, points, a verdict and side actions.
//
// The parts: verdicts.ts (rules' actions to milter verdicts, the stages to negotiate), side-actions.ts
// (logs, alerts, header marks, deleted keys), store-health.ts (on_store_error and its log lines).
// This file only routes each negotiated event through them.
import type { Logger } from '../log/logger';
import type { RuleEvent, ThresholdAction } from '../rules/rule-set';
import type { ConnectionDecision, EomResult, MilterHandler, SessionContext, Verdict } from '../session/handler';
import type { Evaluation, ScoringEngine } from '../engine/scoring-engine';
import { factsFor, type EventDetail } from './facts';
import { allowedWithoutLookups } from '../engine/plan';
import type { ReputationChecks } from '../reputation/reputation-checks';
import type { AlertSink } from './alerter';
import { newCounters, type ScoringCounters } from './counters';
import { SideActions } from './side-actions';
import { StoreHealth, type StoreErrorPolicy } from './store-health';
import { connectionVerdict, needsOf, toVerdict } from './verdicts';

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

export function scoringHandler(options: ScoringHandlerOptions): MilterHandler {
  const { engine, logger } = options;
  const ruleSet = engine.ruleSet;
  const counters = options.counters ?? newCounters();
  const storeHealth = new StoreHealth(logger, options.onStoreError, counters);
  const sideActions = new SideActions(engine, logger, counters, options.now ?? Date.now, options.alerter);
  const lookups = options.reputation && !options.reputation.idle ? options.reputation : undefined;
  const needs = needsOf(ruleSet);

  async function evaluate(ctx: SessionContext, event: RuleEvent, detail?: EventDetail): Promise<ThresholdAction> {
    const plain = factsFor(ctx, event, detail);
    const facts = lookups && !allowedWithoutLookups(ruleSet, plain) ? await lookups.enrich(ctx, plain) : plain;
    let evaluation: Evaluation;
    counters.evaluations++;
    try {
      evaluation = await engine.evaluate(facts);
    } catch (error) {
      return storeHealth.failed(ctx.connectionId, error);
    }
    storeHealth.answered(ctx.connectionId, evaluation);
    for (const { rule, keys } of evaluation.observed) {
      logger.info('observe: rule matched', { conn: ctx.connectionId, event, rule: rule.name, ...(rule.ok ? { would: 'ok' } : { keys }), ...(rule.action ? { would: rule.action.kind } : {}) });
    }
    if (evaluation.kind === 'allowed') {
      logger.info('allow-list', { conn: ctx.connectionId, event, rule: evaluation.rule.name, client: facts.clientIp });
      return { kind: 'ok' };
    }
    await sideActions.run(ctx, event, facts, evaluation);
    return evaluation.outcome.action;
  }

  const onEvent = (event: RuleEvent) => async (ctx: SessionContext, detail?: EventDetail): Promise<Verdict> => {
    const action = await evaluate(ctx, event, detail);
    counters.decisions[action.kind] = (counters.decisions[action.kind] ?? 0) + 1;
    return toVerdict(action, event);
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
    ...(ruleSet.events.has('mail') ? { mail: (ctx: SessionContext) => mail(ctx) } : {}),
    ...(ruleSet.events.has('rcpt') ? { rcpt: (ctx: SessionContext, recipient: string) => rcpt(ctx, { recipient }) } : {}),
    async eom(ctx: SessionContext): Promise<EomResult> {
      const verdict = ruleSet.events.has('eom') ? await eomEvent(ctx, { size: ctx.message?.bodyBytes }) : { kind: 'continue' as const };
      return { verdict, modifications: sideActions.takeMarks(ctx) };
    },
  };
}
