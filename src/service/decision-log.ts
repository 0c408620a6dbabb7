// Turns session and server events into log lines: each answer sent (debug), each protocol error.
import type { FloodgateError } from '../errors';
import type { Logger } from '../log/logger';
import type { Decision, SessionContext } from '../session/handler';
import type { DecisionStage, HandlerStage } from '../session/session';
import type { ServerEvents } from '../server/milter-server';

/** Refusals after the first are counted for this long and then logged as one line. */
const REFUSAL_SUMMARY_MS = 10_000;

export function decisionLog(logger: Logger): ServerEvents {
  // A connection flood (5,000 connections against max_connections: 1000, in the fault test) would
  // otherwise write a line per refused connection: the first is logged at once, the rest as a count.
  let refusalsHeld = 0;
  let refusalTimer: NodeJS.Timeout | undefined;
  let lastRefusal = { reason: '', remote: '' };
  const summariseRefusals = (): void => {
    refusalTimer = undefined;
    if (refusalsHeld === 0) return;
    logger.warn('MTA connections refused', { count: refusalsHeld, ...lastRefusal, period_ms: REFUSAL_SUMMARY_MS });
    refusalsHeld = 0;
    refusalTimer = setTimeout(summariseRefusals, REFUSAL_SUMMARY_MS);
    refusalTimer.unref();
  };
  // Build a decision's line only when debug is on (it is on the hot path).
  // Compared by hand: winston's isDebugEnabled() builds arrays and a closure per call (3.6 % of all the
  // bytes allocated per session, measured); our one transport has no level of its own to consult.
  const debugEnabled = () => logger.levels[logger.level]! >= logger.levels.debug!;
  const hex = (n: number) => `0x${n.toString(16)}`;
  return {
    negotiated(ctx, offer, answer) {
      if (!debugEnabled()) return;
      logger.debug('negotiated', {
        conn: ctx.connectionId,
        offer: { version: offer.version, actions: hex(offer.actions), protocol: hex(offer.protocol) },
        answer: { version: answer.version, actions: hex(answer.actions), protocol: hex(answer.protocol) },
      });
    },
    // The handler's "answer" line (info) says what was decided and why; this one, what the session
    // sent and after how long a delay, is for debugging an MTA.
    decision(ctx: SessionContext, stage: DecisionStage, verdict: Decision | { kind: 'skip' }, delayMs: number, answered: boolean) {
      if (!answered || !debugEnabled()) return;
      logger.debug('decision', {
        conn: ctx.connectionId,
        stage,
        verdict: verdict.kind,
        ...('reply' in verdict && verdict.reply ? { reply: `${verdict.reply.code} ${verdict.reply.ext ?? ''}`.trim() } : {}),
        ...(delayMs > 0 ? { delay_ms: delayMs } : {}),
        client: ctx.connect?.address,
        ...(ctx.message ? { from: ctx.message.sender } : {}),
      });
    },
    handlerError(ctx: SessionContext, stage: HandlerStage, error: unknown, fallback: Decision) {
      const code = (error as FloodgateError).code ?? 'FG_ERR_HANDLER';
      logger.error('handler error', { conn: ctx.connectionId, stage, code, error: String((error as Error)?.message ?? error), sent: fallback.kind });
    },
    protocolError(connectionId: string, error: FloodgateError) {
      logger.warn('protocol error, connection closed', { conn: connectionId, code: error.code, error: error.message });
    },
    nativeUnavailable(feature: string, reason: string) {
      logger.warn('native facility unavailable, running without it', { feature, reason });
    },
    connectionRefused(reason: string, remote: string) {
      if (refusalTimer === undefined) {
        logger.warn('MTA connection refused', { reason, remote });
        refusalTimer = setTimeout(summariseRefusals, REFUSAL_SUMMARY_MS);
        refusalTimer.unref();
        return;
      }
      refusalsHeld += 1;
      lastRefusal = { reason, remote };
    },
  };
}
