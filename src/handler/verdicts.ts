// From the rules' answers to the milter's: which stages to negotiate, and the verdict for each action.
import { Action } from '../milter/constants';
import type { EventStage, MilterNeeds } from '../milter/negotiation';
import type { RuleEvent, RuleSet, ThresholdAction } from '../rules/rule-set';
import type { ConnectionDecision, Decision, Verdict } from '../session/handler';

/** The stages and actions to ask of the MTA: only what the loaded rules read or do, and RCPT when tracking records recipients. */
export function needsOf(ruleSet: RuleSet, tracking = false): MilterNeeds {
  // CONNECT, HELO and MAIL carry the client's address, name, HELO and the sender that every later
  // event's keys, conditions and answer lines read, so they are always negotiated, whichever events
  // the rules count: without MAIL, Postfix never tells the milter the sender, and sender keys never count.
  const stages = new Set<EventStage>(['connect', 'helo', 'mail']);
  for (const event of ruleSet.events) if (event !== 'eom') stages.add(event);
  if (tracking) stages.add('rcpt');
  // The size is counted from body chunks: only then is the MTA asked to stream the body.
  if (ruleSet.needsMessageSize) stages.add('body');
  return { stages, actions: hasHeaderMarks(ruleSet) ? Action.ADDHDRS : 0, rejectedRecipients: ruleSet.events.has('rcpt') };
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
