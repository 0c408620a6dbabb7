// Per-message latency on one SMTP session: MAIL, RCPT, DATA and the message, timed message by message.
import { performance } from 'node:perf_hooks';
import type { EventStage } from '../../src/milter/negotiation';
import type { MilterHandler } from '../../src/session/handler';
import { smtpConnect, type SmtpReply } from './smtp-client';

/**
 * Listens to CONNECT, HELO, MAIL, RCPT and DATA and always continues, without delay: every stage
 * is answered, as by a rate limiter, so what is measured is the transport, not the handler.
 */
export function continueHandler(): MilterHandler {
  const stages: EventStage[] = ['connect', 'helo', 'mail', 'rcpt', 'data'];
  const go = { kind: 'continue' } as const;
  return {
    needs: () => ({ stages: new Set(stages), actions: 0 }),
    connect: () => go,
    helo: () => go,
    mail: () => go,
    rcpt: () => go,
    data: () => go,
  };
}

export interface SessionLatency {
  /** Connect to the 220 greeting plus EHLO: the once-per-session CONNECT and HELO stages. */
  setupMs: number;
  /** MAIL FROM to the end-of-data reply, for each message in order. */
  perMessageMs: number[];
}

/** Sends `count` messages one after another on one SMTP session; throws on any refusal. */
export async function measureSession(port: number, count: number, helo = 'latency.example.org'): Promise<SessionLatency> {
  const started = performance.now();
  const client = await smtpConnect(port, '127.0.0.1', { timeoutMs: 20_000 });
  const expect = (reply: SmtpReply, code: number, what: string): void => {
    if (reply.code !== code) throw new Error(`${what}: expected ${code}, got ${reply.raw.trim()}`);
  };
  try {
    expect(client.greeting, 220, 'greeting');
    expect(await client.command(`EHLO ${helo}`), 250, 'EHLO');
    const setupMs = performance.now() - started;
    const perMessageMs: number[] = [];
    for (let i = 1; i <= count; i++) {
      const t0 = performance.now();
      expect(await client.command('MAIL FROM:<sender@example.org>'), 250, `MAIL ${i}`);
      expect(await client.command('RCPT TO:<rcpt@example.com>'), 250, `RCPT ${i}`);
      expect(await client.command('DATA'), 354, `DATA ${i}`);
      const message = `From: <sender@example.org>\r\nTo: <rcpt@example.com>\r\nSubject: latency ${i}\r\nMessage-ID: <lat.${i}.${Date.now()}@example.org>\r\n\r\nMessage ${i}.\r\n`;
      expect(await client.sendMessage(message), 250, `end of data ${i}`);
      perMessageMs.push(performance.now() - t0);
    }
    return { setupMs, perMessageMs };
  } finally {
    await client.close();
  }
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
