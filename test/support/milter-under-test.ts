// Starts a real MilterServer in the test process, on loopback or a unix socket, recording its events.
import type { FloodgateError } from '../../src/errors';
import { MilterServer, type ServerEvents, type ServerSettings } from '../../src/server/milter-server';
import type { ListenAddress } from '../../src/server/listen-address';
import type { MilterHandler } from '../../src/session/handler';

export interface ServerLog {
  protocolErrors: Array<{ conn: string; code: string; message: string }>;
  handlerErrors: Array<{ stage: string; error: string }>;
  decisions: Array<{ conn: string; stage: string; verdict: string; delayMs: number }>;
  refused: string[];
}

export const TEST_SETTINGS: ServerSettings = {
  maxConnections: 100,
  limits: { maxFrameBytes: 1024 * 1024, frameTimeoutMs: 30_000, idleTimeoutMs: 60_000 },
  session: { failDecision: { kind: 'tempfail' }, maxDelayMs: 25_000, progressIntervalMs: 5_000 },
};

export async function startMilter(
  handler: MilterHandler,
  address: ListenAddress = { kind: 'tcp', host: '127.0.0.1', port: 0 },
  settings: Partial<ServerSettings> = {},
  socketMode = 0o660,
): Promise<{ server: MilterServer; log: ServerLog }> {
  const log: ServerLog = { protocolErrors: [], handlerErrors: [], decisions: [], refused: [] };
  const events: ServerEvents = {
    decision: (ctx, stage, verdict, delayMs) => log.decisions.push({ conn: ctx.connectionId, stage, verdict: verdict.kind, delayMs }),
    handlerError: (_ctx, stage, error) => log.handlerErrors.push({ stage, error: String(error) }),
    protocolError: (conn: string, error: FloodgateError) => log.protocolErrors.push({ conn, code: error.code, message: error.message }),
    connectionRefused: (reason) => log.refused.push(reason),
  };
  const server = new MilterServer(address, handler, { ...TEST_SETTINGS, ...settings }, events, { mode: socketMode });
  await server.listen();
  return { server, log };
}
