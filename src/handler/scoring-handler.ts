// The milter handler of the product: each SMTP event becomes facts, points, a verdict and side actions.
//
// The parts: verdicts.ts (rules' actions to milter verdicts, the stages to negotiate), side-actions.ts
// (logs, alerts, header marks, deleted keys), store-health.ts (on_store_error and its log lines).
// This file only routes each negotiated event through them.
import type { Logger } from '../log/logger';
import type { Facts, MessageMarks, RuleEvent, ThresholdAction } from '../rules/rule-set';
import { andThen, type MaybePromise } from '../maybe-promise';
import { CONTINUE, type ConnectionDecision, type EomResult, type MessageState, type MilterHandler, type SessionContext, type Verdict } from '../session/handler';
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
import { connectionVerdict, letsThrough, needsOf, toVerdict, verdictAction, withTemplateValues } from './verdicts';
import { messageChanges } from './message-changes';
import { OpenMessage } from './open-message';
import { MessageCopies } from './message-copies';
import type { CopyStore } from '../tracking/copy-store';

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
  /** Put the Subject of messages whose headers were read in their tracking records (tracking.subject). */
  trackSubjects?: boolean;
  /** Where the messages the rules' `track:` entries choose are kept whole. */
  copies?: CopyStore;
}

const CONTINUE_ACTION: ThresholdAction = Object.freeze({ kind: 'continue' });
const ALLOW_ACTION: ThresholdAction = Object.freeze({ kind: 'ok' });
const NO_DETAIL: EventDetail = Object.freeze({});
const NO_MARKS: readonly MessageMarks[] = Object.freeze([]);

/** The rules' answer to an event, with the evaluation behind it (none when the store failed). */
interface Decided {
  action: ThresholdAction;
  evaluation?: Evaluation;
}

/** An evaluated event: the answer to give, and the changes the matched content rules ask of the message. */
interface Answer {
  action: ThresholdAction;
  marks: readonly MessageMarks[];
}

export function scoringHandler(options: ScoringHandlerOptions): MilterHandler {
  const { engine, logger } = options;
  const ruleSet = engine.ruleSet;
  const observer = options.observer ?? UNOBSERVED;
  const now = options.now ?? Date.now;
  const observeOnly = options.observeOnly === true;
  const storeHealth = new StoreHealth(logger, options.onStoreError, observer);
  const sideActions = new SideActions(engine, logger, observer, now, options.alerter);
  const lookups = options.reputation && !options.reputation.idle ? options.reputation : undefined;
  const recorder = options.track ? new SessionRecorder(options.track, now, options.trackSubjects === true) : undefined;
  const needs = needsOf(ruleSet, recorder !== undefined);
  const copies = options.copies && ruleSet.track.length > 0 ? new MessageCopies(ruleSet.track, options.copies) : undefined;
  const messageNeeds = ruleSet.message;
  const readsMessage = needs.stages.has('eoh');
  const openMessages = new WeakMap<Readonly<MessageState>, OpenMessage>();
  /** The current message's reader, created at its first header-stage packet. */
  const openMessage = (ctx: SessionContext): OpenMessage | undefined => {
    const message = ctx.message;
    if (!readsMessage || !message) return undefined;
    let open = openMessages.get(message);
    if (!open) openMessages.set(message, (open = new OpenMessage(messageNeeds, messageNeeds.scan)));
    return open;
  };

  /**
   * The engine's answer with the evaluation behind it, or on_store_error's answer when the store
   * fails; at once when the store answered at once.
   */
  function decide(ctx: SessionContext, event: RuleEvent, facts: Facts): MaybePromise<Decided> {
    let evaluation: MaybePromise<Evaluation>;
    try {
      evaluation = engine.evaluate(facts);
    } catch (error) {
      return { action: storeHealth.failed(ctx.connectionId, error) };
    }
    if (!(evaluation instanceof Promise)) return evaluated(ctx, event, facts, evaluation);
    return evaluation.then((e) => evaluated(ctx, event, facts, e), (error: unknown) => ({ action: storeHealth.failed(ctx.connectionId, error) }));
  }

  function evaluated(ctx: SessionContext, event: RuleEvent, facts: Facts, evaluation: Evaluation): MaybePromise<Decided> {
    storeHealth.answered(ctx.connectionId, evaluation);
    for (const rule of evaluation.matched) observer.ruleMatched(rule.name);
    if (evaluation.kind === 'scored' && evaluation.scored.length > 0) observer.keysScored(evaluation.scored, now());
    for (const { rule, keys } of evaluation.observed) {
      logger.info('observe: rule matched', { conn: ctx.connectionId, event, rule: rule.name, ...(rule.ok ? { would: 'ok' } : { keys }), ...(rule.action ? { would: rule.action.kind } : {}) });
    }
    if (evaluation.kind === 'allowed') return { action: ALLOW_ACTION, evaluation };
    const decided: Decided = { action: withTemplateValues(evaluation.outcome, facts), evaluation };
    return andThen(sideActions.run(ctx, event, facts, evaluation, !observeOnly), () => decided);
  }

  function evaluate(ctx: SessionContext, event: RuleEvent, detail: EventDetail = NO_DETAIL): MaybePromise<Answer> {
    const plain = factsFor(ctx, event, detail, now());
    const facts = lookups && !allowedWithoutLookups(ruleSet, plain) ? lookups.enrich(ctx, plain) : plain;
    return andThen(facts, (f) => andThen(decide(ctx, event, f), (d) => answer(ctx, event, f, d)));
  }

  function answer(ctx: SessionContext, event: RuleEvent, facts: Facts, { action, evaluation }: Decided): Answer {
    if (copies && evaluation) copies.ruleFired(ctx, evaluation.matched);
    const given = observeOnly ? CONTINUE_ACTION : action;
    recorder?.event(ctx, event, facts, action, evaluation, given);
    // In observe mode nothing is changed: the matched rules are in the log and the record.
    const marks = !observeOnly && evaluation?.kind === 'scored' && evaluation.marking.length > 0 ? evaluation.marking.map((r) => r.marks!) : NO_MARKS;
    if (action.kind === 'continue') return { action, marks };
    const record = answerRecord(ctx, facts, action, evaluation, observeOnly, now());
    observer.answered(record);
    logger.info(observeOnly ? 'observe: would answer' : 'answer', answerLogFields(record));
    return { action: given, marks };
  }

  const onEvent = (event: RuleEvent) => (ctx: SessionContext, detail?: EventDetail): MaybePromise<Verdict> =>
    andThen(evaluate(ctx, event, detail), (a) => toVerdict(a.action, event));
  /**
   * No rule counts this event, but later rules read DNS: start the lookups now, while the MTA goes
   * on with the session, so that they are (nearly) done when the rules need them.
   */
  const startLookups = (event: 'connect' | 'helo') => (ctx: SessionContext): Verdict<ConnectionDecision> => {
    const plain = factsFor(ctx, event);
    if (lookups && !allowedWithoutLookups(ruleSet, plain)) lookups.start(ctx, plain);
    return { kind: 'continue' };
  };
  /** CONNECT and HELO: scored when rules count them, else only the start of the lookups, else not handled. */
  const connectionEvent = (event: 'connect' | 'helo'): ((ctx: SessionContext) => MaybePromise<Verdict<ConnectionDecision>>) | undefined => {
    if (ruleSet.events.has(event)) {
      const handle = onEvent(event);
      return (ctx) => andThen(handle(ctx), connectionVerdict);
    }
    return lookups ? startLookups(event) : undefined;
  };
  const connect = connectionEvent('connect');
  const helo = connectionEvent('helo');
  const mail = onEvent('mail');
  const rcpt = onEvent('rcpt');

  /** End of the header block: the header-stage rules, with the fields as the scanner decoded them. */
  async function endOfHeaders(ctx: SessionContext): Promise<Verdict> {
    const open = openMessage(ctx);
    const content = open?.endOfHeaders();
    copies?.endOfHeaders(ctx);
    if (!ruleSet.events.has('header')) return { kind: 'continue' };
    const { action, marks } = await evaluate(ctx, 'header', { content });
    open?.marks.push(...marks);
    return toVerdict(action, 'header');
  }

  async function endOfMessage(ctx: SessionContext): Promise<EomResult> {
    const open = openMessage(ctx);
    const content = open ? await open.finish() : undefined;
    const { action, marks } = ruleSet.events.has('eom') ? await evaluate(ctx, 'eom', { size: ctx.message?.bodyBytes, content }) : { action: CONTINUE_ACTION, marks: NO_MARKS };
    const verdict = toVerdict(action, 'eom');
    recorder?.messageEnded(ctx, verdictAction(verdict), content);
    // The answer does not wait for the copy's file to be closed and linked.
    if (copies) void copies.messageEnded(ctx, now());
    const headerMarks = sideActions.takeMarks(ctx);
    const allMarks = open && open.marks.length > 0 ? [...open.marks, ...marks] : marks;
    if (allMarks.length === 0 || !letsThrough(verdict) || !ctx.message) return { verdict, modifications: headerMarks };
    const changes = messageChanges(allMarks, { recipients: ctx.message.recipients, sender: ctx.message.sender, rawSubject: open?.rawSubject, subject: content?.subject });
    return { verdict, modifications: [...headerMarks, ...changes] };
  }

  return {
    needs: () => needs,
    ...(connect ? { connect } : {}),
    ...(helo ? { helo } : {}),
    // With tracking every RCPT is evaluated, so that each recipient's answer is recorded; MAIL only
    // when rules count it (else its answer is always continue, and the record reads the sender at its end).
    ...(ruleSet.events.has('mail') ? { mail: (ctx: SessionContext) => mail(ctx) } : {}),
    ...(ruleSet.events.has('rcpt') || recorder ? { rcpt: (ctx: SessionContext, recipient: string) => rcpt(ctx, { recipient }) } : {}),
    ...(needs.stages.has('header') ? {
          header: (ctx: SessionContext, name: string, value: string) => {
            openMessage(ctx)?.header(name, value);
            copies?.header(ctx, name, value);
            return CONTINUE;
          },
        } : {}),
    ...(needs.stages.has('eoh') ? { eoh: endOfHeaders } : {}),
    ...(needs.stages.has('body')
      ? {
          body: (ctx: SessionContext, chunk: Buffer) => {
            const scanned = openMessage(ctx)?.body(chunk);
            const copied = copies?.body(ctx, chunk);
            return scanned || copied ? Promise.all([scanned, copied]).then(() => CONTINUE) : CONTINUE;
          },
        }
      : {}),
    eom: endOfMessage,
    ...(recorder || readsMessage
      ? {
          abort: (ctx: SessionContext) => {
            if (ctx.message) openMessages.get(ctx.message)?.dispose();
            copies?.messageAborted(ctx);
            recorder?.messageAborted(ctx);
          },
        }
      : {}),
    ...(recorder ? { close: (ctx: SessionContext) => recorder.sessionClosed(ctx) } : {}),
  };
}
