// `floodgate simulate`: dry-run sessions against the rules with an in-memory store and a simulated clock.
import type { SessionContext } from '../session/handler';
import type { RuleEvent, RuleSet } from '../rules/rule-set';
import { factsFor } from '../engine/facts';
import { ScoringEngine, type Evaluation } from '../engine/scoring-engine';
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

/** Runs `count` identical sessions `intervalMs` apart and prints every event's decision and reasons. */
export async function simulate(ruleSet: RuleSet, session: SimulatedSession, count: number, intervalMs: number, out: NodeJS.WritableStream): Promise<void> {
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
      const evaluation = await engine.evaluate(factsFor(ctx, event, { recipient, size: session.size }));
      out.write(`  ${event.padEnd(7)} ${recipient ?? ''}${recipient ? ' ' : ''}-> ${describe(evaluation)}\n`);
      if (evaluation.kind === 'allowed') break;
    }
    now += intervalMs;
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
    helo: s.helo,
    message: s.from === undefined ? undefined : { index: 1, sender: s.from, senderArgs: [], recipients: [], headerCount: 0, bodyBytes: s.size ?? 0 },
    macro: (name) => macros[name],
  };
}
