// What a scored evaluation does besides its answer: log lines, alert mails, header marks, deleted keys.
import type { Modification } from '../milter/replies';
import type { Logger } from '../log/logger';
import type { Facts, RuleEvent } from '../rules/rule-set';
import type { SessionContext } from '../session/handler';
import type { Evaluation, ScoringEngine } from '../engine/scoring-engine';
import type { AlertSink } from './alerter';
import type { ScoringObserver } from './scoring-observer';

type Scored = Extract<Evaluation, { kind: 'scored' }>;

/** The header marks of one message, added at its end of message. */
interface MessageMarks {
  index: number;
  headers: Modification[];
}

export class SideActions {
  private readonly marks = new WeakMap<SessionContext, MessageMarks>();

  constructor(
    private readonly engine: ScoringEngine,
    private readonly logger: Logger,
    private readonly observer: ScoringObserver,
    private readonly now: () => number,
    private readonly alerter?: AlertSink,
  ) {}

  /**
   * With `enforcing` false (mode: observe) only the log lines are written: no alert, mark or deletion.
   * A promise only when keys are deleted (the store is asked); else done when it returns.
   */
  run(ctx: SessionContext, event: RuleEvent, facts: Facts, evaluation: Scored, enforcing: boolean): Promise<void> | undefined {
    const conn = ctx.connectionId;
    let deletions: string[] | undefined;
    for (const rule of evaluation.outcome.rules) {
      this.logger.info('rule answer', { conn, event, rule: rule.name, action: rule.action?.kind, client: facts.clientIp, ...reputationFields(facts) });
    }
    for (const reason of evaluation.outcome.reasons) {
      const t = reason.threshold;
      const action = t.action.kind;
      this.observer.thresholdCrossed(reason.keyClass, action, t.observe);
      if (t.log || t.observe) {
        this.logger.info(t.observe ? 'observe: threshold' : 'threshold', {
          conn, event, key: reason.key, score: round(reason.score), rules: reason.rules, action, ...(t.observe ? { observe: true } : {}), ...reputationFields(facts),
        });
      }
      if (t.observe || !enforcing) continue;
      if (t.mail && this.alerter) {
        const sent = this.alerter.alert({ key: reason.key, score: reason.score, action, rules: reason.rules, client: facts.clientIp, sender: facts.sender }, this.now());
        this.observer.alerted(sent ? 'sent' : 'cooldown');
      }
      if (t.header && ctx.message) this.mark(ctx, ctx.message.index, { kind: 'addHeader', name: t.header.name, value: t.header.value });
      if (t.delete) (deletions ??= []).push(reason.key);
    }
    return deletions && this.deleteKeys(deletions);
  }

  private async deleteKeys(keys: readonly string[]): Promise<void> {
    for (const key of keys) await this.engine.deleteKey(key);
  }

  /** The header marks gathered for the connection's current message, and forgets them. */
  takeMarks(ctx: SessionContext): Modification[] {
    const m = this.marks.get(ctx);
    this.marks.delete(ctx);
    return m && ctx.message && m.index === ctx.message.index ? m.headers : [];
  }

  /** Once per message: every RCPT over the threshold marks again, and one header says it all. */
  private mark(ctx: SessionContext, index: number, header: Modification): void {
    const m = this.marks.get(ctx);
    const current = m && m.index === index ? m : { index, headers: [] };
    if (!current.headers.some((h) => sameModification(h, header))) current.headers.push(header);
    this.marks.set(ctx, current);
  }
}

function sameModification(a: Modification, b: Modification): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
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
