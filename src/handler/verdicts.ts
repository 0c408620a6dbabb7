// From the rules' answers to the milter's: which stages to negotiate, and the verdict for each action.
import { Action } from '../milter/constants';
import type { EventStage, MilterNeeds } from '../milter/negotiation';
import type { Facts, RuleEvent, RuleSet, ThresholdAction } from '../rules/rule-set';
import type { Outcome } from '../engine/decide';
import type { ConnectionDecision, Decision, Verdict } from '../session/handler';

/** The stages and actions to ask of the MTA: only what the loaded rules read or do, and RCPT when tracking records recipients. */
export function needsOf(ruleSet: RuleSet, tracking = false): MilterNeeds {
  // CONNECT, HELO and MAIL carry the client's address, name, HELO and the sender that every later
  // event's keys, conditions and answer lines read, so they are always negotiated, whichever events
  // the rules count: without MAIL, Postfix never tells the milter the sender, and sender keys never count.
  const stages = new Set<EventStage>(['connect', 'helo', 'mail']);
  // A redirect removes every recipient by the name the MTA gave it at RCPT, and tracking copies are
  // chosen by recipient: both must see them all.
  if (ruleSet.events.has('rcpt') || tracking || ruleSet.message.marks.has('redirect') || ruleSet.track.length > 0) stages.add('rcpt');
  const { message } = ruleSet;
  // Rules `on: header` are evaluated at the end of the header block; the fields themselves are sent
  // only when some rule reads them or the parsed body (whose MIME structure they declare); the body
  // when some rule reads it or its size.
  if (ruleSet.events.has('header')) stages.add('eoh');
  if (message.headers) stages.add('header').add('eoh');
  if (message.body) stages.add('body');
  // Header and body packets are only collected, and events no rule counts (CONNECT, HELO, MAIL and
  // RCPT are negotiated for what they tell later events) only start DNS lookups or feed the tracking
  // record: their answer is always continue. Where no-reply is safe, the MTA need not wait for it.
  const observeOnly = new Set<EventStage>();
  for (const stage of stages) if (stage === 'header' || stage === 'body' || (isRuleEvent(stage) && !ruleSet.events.has(stage))) observeOnly.add(stage);
  return { stages, observeOnly, actions: actionsOf(ruleSet), rejectedRecipients: ruleSet.events.has('rcpt') };
}

function isRuleEvent(stage: EventStage): stage is 'connect' | 'helo' | 'mail' | 'rcpt' {
  return stage === 'connect' || stage === 'helo' || stage === 'mail' || stage === 'rcpt';
}

/** The SMFIF_* rights the rules' changes to messages need, and no others. */
function actionsOf(ruleSet: RuleSet): number {
  const marks = ruleSet.message.marks;
  let actions = 0;
  // A redirect keeps the original recipients in a header; a prefix on a message without Subject adds one.
  if (hasHeaderMarks(ruleSet) || marks.has('header') || marks.has('redirect') || marks.has('subject_prefix')) actions |= Action.ADDHDRS;
  if (marks.has('subject_prefix')) actions |= Action.CHGHDRS;
  if (marks.has('redirect')) actions |= Action.ADDRCPT | Action.DELRCPT;
  if (marks.has('quarantine')) actions |= Action.QUARANTINE;
  return actions;
}

function hasHeaderMarks(ruleSet: RuleSet): boolean {
  for (const settings of ruleSet.keyClasses.values()) if (settings.thresholds.some((t) => t.header)) return true;
  return false;
}

export function toVerdict(action: ThresholdAction, event: RuleEvent): Verdict {
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

/** The rules' action a verdict came from, for the tracking record (a delay's final answer is what follows it). */
export function verdictAction(verdict: Verdict): ThresholdAction {
  if (verdict.kind === 'delay') return { kind: 'delay', seconds: verdict.seconds };
  if (verdict.kind === 'accept') return { kind: 'ok' };
  // Decision's tempfail and reject carry the same fields as the rules' actions.
  return verdict;
}

/** Discard has no meaning before a message: toVerdict already mapped it to continue there. */
export function connectionVerdict(verdict: Verdict): Verdict<ConnectionDecision> {
  return verdict as Verdict<Exclude<Decision, { kind: 'discard' }>>;
}

/** Whether the message goes on to its recipients (so that changes to it are worth sending). */
export function letsThrough(verdict: Verdict): boolean {
  const decision = verdict.kind === 'delay' ? verdict.then : verdict;
  return decision.kind === 'continue' || decision.kind === 'accept';
}

/** Longest file name put in a reply: the line must stay readable and under the MTAs' limits. */
const MAX_TEMPLATE_VALUE = 100;

/**
 * The winning action with `{attachment}` in its reply filled in from the rule that gave it. The name
 * comes from the client: anything but printable ASCII becomes '?', so the reply stays a valid line.
 */
export function withTemplateValues(outcome: Outcome, facts: Facts): ThresholdAction {
  const action = outcome.action;
  if ((action.kind !== 'reject' && action.kind !== 'tempfail') || !action.reply) return action;
  const rule = outcome.rules.find((r) => r.action === action);
  const attachment = rule?.templateValues?.(facts).attachment;
  if (attachment === undefined) return action;
  const value = attachment.replace(/[^\x20-\x7e]/g, '?').slice(0, MAX_TEMPLATE_VALUE);
  const fill = (line: string) => line.split('{attachment}').join(value);
  const text = typeof action.reply.text === 'string' ? fill(action.reply.text) : action.reply.text.map(fill);
  return { ...action, reply: { ...action.reply, text } } as ThresholdAction;
}
