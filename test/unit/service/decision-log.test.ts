// decisionLog: what the session sent, at debug level only (also after a level change).
import { PassThrough } from 'node:stream';
import { createLogger } from '../../../src/log/logger';
import { decisionLog } from '../../../src/service/decision-log';
import type { SessionContext } from '../../../src/session/handler';

function setUp(level: 'info' | 'debug') {
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
  const logger = createLogger(level, 'json', stream);
  return { logger, events: decisionLog(logger), lines };
}

const ctx = { connectionId: 'c1', connect: { address: '192.0.2.7' } } as unknown as SessionContext;
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('decisionLog', () => {
  test('at info no decision is logged (the handler logs answers); at debug a reject and a delayed continue are, with what was sent', async () => {
    const quiet = setUp('info');
    quiet.events.decision(ctx, 'rcpt', { kind: 'reject', reply: { code: '550', ext: '5.7.1', text: 'no' } }, 0, true);
    await flush();
    expect(quiet.lines).toEqual([]);
    const { events, lines } = setUp('debug');
    events.decision(ctx, 'rcpt', { kind: 'reject', reply: { code: '550', ext: '5.7.1', text: 'no' } }, 0, true);
    events.decision(ctx, 'mail', { kind: 'continue' }, 1500, true);
    await flush();
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ level: 'debug', message: 'decision', stage: 'rcpt', verdict: 'reject', reply: '550 5.7.1', client: '192.0.2.7' }),
      expect.objectContaining({ level: 'debug', stage: 'mail', verdict: 'continue', delay_ms: 1500 }),
    ]);
  });

  test('at debug every decision is logged, also once the level is raised at run time (SIGHUP)', async () => {
    const { logger, events, lines } = setUp('info');
    events.decision(ctx, 'connect', { kind: 'continue' }, 0, true);
    logger.level = 'debug';
    events.decision(ctx, 'helo', { kind: 'skip' }, 0, true);
    await flush();
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([expect.objectContaining({ level: 'debug', stage: 'helo', verdict: 'skip' })]);
    // An event negotiated without a reply sent nothing: no line for it.
    events.decision(ctx, 'mail', { kind: 'continue' }, 0, false);
    logger.level = 'warn';
    events.decision(ctx, 'rcpt', { kind: 'continue' }, 0, true);
    await flush();
    expect(lines).toHaveLength(1);
  });
});

describe('decisionLog: refused MTA connections (issue 19)', () => {
  afterEach(() => jest.useRealTimers());

  test('the first refusal is logged at once, the rest of a flood as one count per 10 s, then single lines again', async () => {
    jest.useFakeTimers();
    const { events, lines } = setUp('info');
    const refuse = (n: number) => { for (let i = 0; i < n; i++) events.connectionRefused('connection limit 1000 reached', '127.0.0.1'); };
    const logged = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    refuse(4000);
    jest.advanceTimersByTime(10_000);
    refuse(5);
    jest.advanceTimersByTime(10_000);
    jest.advanceTimersByTime(10_000); // a quiet period: nothing to summarise, and the next refusal is logged at once
    refuse(1);
    jest.useRealTimers();
    await flush();
    expect(logged()).toEqual([
      expect.objectContaining({ level: 'warn', message: 'MTA connection refused', reason: 'connection limit 1000 reached', remote: '127.0.0.1' }),
      expect.objectContaining({ level: 'warn', message: 'MTA connections refused', count: 3999, period_ms: 10_000 }),
      expect.objectContaining({ level: 'warn', message: 'MTA connections refused', count: 5 }),
      expect.objectContaining({ level: 'warn', message: 'MTA connection refused' }),
    ]);
  });
});
