// Builds the record of an answer (what, to whom, decided by which rule, key and score) and its log line.
import type { Facts, ThresholdAction } from '../rules/rule-set';
import type { SessionContext } from '../session/handler';
import type { Evaluation } from '../engine/scoring-engine';
import type { AnswerKind, AnswerRecord } from './scoring-observer';

/** What decided an answer; empty when the store failed and on_store_error answered. */
type Cause = Pick<AnswerRecord, 'rule' | 'keyClass' | 'key' | 'score'>;

export function answerRecord(
  ctx: SessionContext,
  facts: Facts,
  action: Exclude<ThresholdAction, { kind: 'continue' }>,
  evaluation: Evaluation | undefined,
  would: boolean,
  now: number,
): AnswerRecord {
  const queueId = ctx.macro('i');
  return {
    time: now,
    conn: ctx.connectionId,
    event: facts.event,
    answer: action.kind,
    would,
    ...(action.kind === 'delay' ? { delaySeconds: action.seconds } : {}),
    ...((action.kind === 'tempfail' || action.kind === 'reject') && action.reply ? { reply: `${action.reply.code} ${action.reply.ext ? `${action.reply.ext} ` : ''}${[action.reply.text].flat().join(' ')}` } : {}),
    ...(queueId ? { queueId } : {}),
    ...defined({ clientIp: facts.clientIp, clientName: facts.clientName, helo: facts.helo, sender: facts.sender, recipient: facts.recipient }),
    ...(evaluation ? causeOf(evaluation, action.kind) : {}),
  };
}

/** The allow-list rule; else the first enforced threshold with this answer; else the rule whose own answer it is. */
export function causeOf(evaluation: Evaluation, kind: AnswerKind): Cause {
  if (evaluation.kind === 'allowed') return { rule: evaluation.rule.name };
  const reason = evaluation.outcome.reasons.find((r) => !r.threshold.observe && r.threshold.action.kind === kind);
  if (reason) return { rule: reason.rules.join(','), keyClass: reason.keyClass, key: reason.key, score: Math.round(reason.score * 100) / 100 };
  const rule = evaluation.outcome.rules.find((r) => r.action?.kind === kind);
  return rule ? { rule: rule.name } : {};
}

/**
 * The answer's log line fields; names follow Postfix's log (client, helo, from, to) so that a grep
 * for one works on both. What was answered, to whom and why come first, before any field an SMTP
 * client chooses: the fail2ban filter anchors on `answer client rule` at the start of the fields,
 * where no HELO or address can reach (a store failure's answer has no rule and is not matched).
 */
export function answerLogFields(record: AnswerRecord): Record<string, unknown> {
  return defined({
    answer: record.answer,
    client: record.clientIp,
    rule: record.rule,
    key: record.key,
    score: record.score,
    event: record.event,
    delay_s: record.delaySeconds,
    reply: record.reply,
    conn: record.conn,
    queue_id: record.queueId,
    client_name: record.clientName,
    helo: record.helo,
    from: record.sender,
    to: record.recipient,
  });
}

function defined<T extends Record<string, unknown>>(fields: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [name, value] of Object.entries(fields)) if (value !== undefined) (out as Record<string, unknown>)[name] = value;
  return out;
}
