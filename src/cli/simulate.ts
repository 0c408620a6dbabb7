// `floodgate simulate`: dry-run sessions against the rules with an in-memory store and a simulated clock.
import type { SessionContext } from '../session/handler';
import type { Facts, RuleEvent, RuleSet } from '../rules/rule-set';
import { factsFor } from '../handler/facts';
import { ScoringEngine, type Evaluation } from '../engine/scoring-engine';
import type { DnsListReport } from '../dns/dns-lists';
import type { ReputationChecks } from '../reputation/reputation-checks';
import { MemoryStore } from '../store/memory-store';

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
  const engine = new ScoringEngine(ruleSet, new MemoryStore(), () => now);
  for (let i = 1; i <= count; i++) {
    out.write(`session ${i} (t=+${((i - 1) * intervalMs) / 1000}s)\n`);
    const ctx = contextFor(session);
    const steps: Array<[RuleEvent, string | undefined]> = [
      ['connect', undefined],
      ['helo', undefined],
      ['mail', undefined],
      ...session.rcpts.map((r): [RuleEvent, string] => ['rcpt', r]),
      ['eom', undefined],
    ];
    for (const [event, recipient] of steps) {
      if (!ruleSet.events.has(event)) continue;
      const plain = factsFor(ctx, event, { recipient, size: session.size });
      const facts = reputation ? await reputation.enrich(ctx, plain) : plain;
      const evaluation = await engine.evaluate(facts);
      out.write(`  ${event.padEnd(7)} ${recipient ?? ''}${recipient ? ' ' : ''}-> ${describe(evaluation)}${describeFacts(facts)}\n`);
      if (evaluation.kind === 'allowed') break;
    }
    if (i === 1 && reputation) await describeLookups(reputation, ctx, out);
    now += intervalMs;
  }
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

function contextFor(s: SimulatedSession): SessionContext {
  const family = s.ip.includes(':') ? 'inet6' : 'inet';
  const macros: Record<string, string> = s.authUser ? { '{auth_authen}': s.authUser } : {};
  return {
    connectionId: 'simulate',
    mta: 'unknown',
    connect: { hostname: s.hostname ?? `[${s.ip}]`, family, address: s.ip, port: 0 },
    connectedAt: undefined,
    helo: s.helo,
    message: s.from === undefined ? undefined : { index: 1, sender: s.from, senderArgs: [], recipients: [], headerCount: 0, bodyBytes: s.size ?? 0 },
    macro: (name) => macros[name],
  };
}
