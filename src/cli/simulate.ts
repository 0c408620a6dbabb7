// `floodgate simulate`: dry-run sessions against the rules with an in-memory store and a simulated clock.
import type { SessionContext } from '../session/handler';
import type { Facts, RuleSet } from '../rules/rule-set';
import type { Evaluation } from '../engine/scoring-engine';
import type { DnsListReport } from '../dns/dns-lists';
import type { ReputationChecks } from '../reputation/reputation-checks';
import type { ReplaySession } from '../replay/mail-events';
import { SessionRunner } from '../replay/session-runner';

export interface SimulatedSession {
  ip: string;
  hostname?: string;
  helo?: string;
  from?: string;
  rcpts: string[];
  authUser?: string;
  size?: number;
}

/**
 * Runs `count` identical sessions `intervalMs` apart and prints every event's decision and reasons;
 * with `reputation`, the DNS lookups of the first session too (later ones come from the cache).
 */
export async function simulate(ruleSet: RuleSet, session: SimulatedSession, count: number, intervalMs: number, out: NodeJS.WritableStream, reputation?: ReputationChecks): Promise<void> {
  let now = Date.now();
  const runner = new SessionRunner(ruleSet, reputation ? (ctx, facts) => reputation.enrich(ctx, facts) : undefined);
  for (let i = 1; i <= count; i++) {
    out.write(`session ${i} (t=+${((i - 1) * intervalMs) / 1000}s)\n`);
    let ctx: SessionContext | undefined;
    await runner.run(replaySessionOf(session, now), (step) => {
      ctx ??= step.ctx;
      out.write(`  ${step.event.padEnd(7)} ${step.recipient ?? ''}${step.recipient ? ' ' : ''}-> ${describe(step.evaluation)}${describeFacts(step.facts)}\n`);
    });
    if (i === 1 && reputation && ctx) await describeLookups(reputation, ctx, out);
    now += intervalMs;
  }
}

function replaySessionOf(s: SimulatedSession, time: number): ReplaySession {
  return {
    time,
    clientIp: s.ip,
    ...(s.hostname !== undefined ? { clientName: s.hostname } : {}),
    ...(s.helo !== undefined ? { helo: s.helo } : {}),
    ...(s.authUser !== undefined ? { authUser: s.authUser } : {}),
    messages: [{ time, ...(s.from !== undefined ? { sender: s.from } : {}), ...(s.size !== undefined ? { size: s.size } : {}), recipients: s.rcpts.map((address) => ({ address, time, rejectedByMta: false })) }],
  };
}

/** What the lookups gave this event's rules, after the verdict: `[dnsbl 6 (zen,sbl); reverse dns none]`. */
function describeFacts(facts: Facts): string {
  const parts: string[] = [];
  if (facts.dnsbl) parts.push(`dnsbl ${facts.dnsbl.score}${facts.dnsbl.listedOn.size ? ` (${[...facts.dnsbl.listedOn].join(',')})` : ''}`);
  if (facts.rhsbl) parts.push(`rhsbl ${facts.rhsbl.score}${facts.rhsbl.listedOn.size ? ` (${[...facts.rhsbl.listedOn].join(',')})` : ''}`);
  if (facts.reverseDns) parts.push(`reverse dns ${facts.reverseDns}`);
  if (facts.recipientKnown !== undefined) parts.push(facts.recipientKnown ? 'recipient known' : 'recipient unknown');
  return parts.length ? `  [${parts.join('; ')}]` : '';
}

/** Every list's answer and the reverse-DNS names, so a postmaster sees why a list did or did not count. */
async function describeLookups(reputation: ReputationChecks, ctx: SessionContext, out: NodeJS.WritableStream): Promise<void> {
  const lookups = reputation.lookups(ctx);
  if (!lookups) return;
  const listLines = (label: string, report: DnsListReport) =>
    report.results.map((r) => `  ${label} ${r.name} (${r.zone}): ${r.status}${r.answers.length ? ` ${r.answers.join(',')}` : ''}${r.status === 'listed' ? ` -> ${r.weight > 0 ? '+' : ''}${r.weight}` : ''}\n`);
  if (lookups.dnsbl) out.write(listLines('dnsbl', await lookups.dnsbl).join(''));
  for (const [domain, report] of lookups.rhsbl) out.write(listLines(`rhsbl ${domain}`, await report).join(''));
  if (lookups.reverseDns) {
    const r = await lookups.reverseDns;
    out.write(`  reverse dns: ${r.status}${r.names.length ? ` (PTR ${r.names.join(', ')}${r.verifiedName ? `; confirmed ${r.verifiedName}` : ''})` : ''}\n`);
  }
}

function describe(evaluation: Evaluation): string {
  const observed = evaluation.observed.map(({ rule }) => ` [observe: ${rule.name}]`).join('');
  if (evaluation.kind === 'allowed') return `ok (allow-list rule ${evaluation.rule.name})${observed}`;
  const { action, reasons } = evaluation.outcome;
  const verdict = action.kind === 'delay' ? `delay ${action.seconds}s` : 'reply' in action && action.reply ? `${action.kind} ${action.reply.code} ${action.reply.ext ?? ''}`.trim() : action.kind;
  const why = reasons.map((r) => `${r.key}=${r.score.toFixed(2)} (${r.rules.join(',')}; ${r.threshold.observe ? 'observe ' : ''}${r.threshold.action.kind})`);
  return `${verdict}${why.length ? `  ${why.join('; ')}` : ''}${observed}`;
}
