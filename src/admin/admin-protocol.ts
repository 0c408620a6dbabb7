// The admin socket's messages: one JSON object per line each way, shared by the service and the CLI.
import type { StatusReport } from '../ops/status-report';

/** The requests on scores, which the CLI can also run on the store itself while the service is stopped. */
export type ScoreRequest = { op: 'top'; n: number; prefix?: string } | { op: 'show'; key: string } | { op: 'reset'; key: string };

export type AdminRequest = ScoreRequest | { op: 'status' } | { op: 'reload' };

/** What a reload did: the new rules' count, or why the running rules stay (file:line:column in `error`). */
export type ReloadResult = { reloaded: true; rules: number; warnings: string[] } | { reloaded: false; error: string };

export interface ScoreView {
  key: string;
  score: number;
  updatedAt: string;
  expiresAt: string;
  halfLifeSeconds: number;
}

export type AdminResponse = { ok: true; result: ScoreView[] | ScoreView | null | boolean | StatusReport | ReloadResult } | { ok: false; error: string };

/** Requests are tiny; anything longer is a confused or hostile client. */
export const MAX_REQUEST_BYTES = 4096;

export function parseRequest(line: string): AdminRequest {
  const value: unknown = JSON.parse(line);
  if (typeof value !== 'object' || value === null) throw new Error('request must be a JSON object');
  const req = value as Record<string, unknown>;
  switch (req.op) {
    case 'top': {
      const n = typeof req.n === 'number' && Number.isInteger(req.n) && req.n > 0 && req.n <= 10_000 ? req.n : 20;
      return typeof req.prefix === 'string' ? { op: 'top', n, prefix: req.prefix } : { op: 'top', n };
    }
    case 'status':
    case 'reload':
      return { op: req.op };
    case 'show':
    case 'reset':
      if (typeof req.key !== 'string' || req.key.length === 0) throw new Error(`${req.op} needs a key`);
      return { op: req.op, key: req.key };
    default:
      throw new Error(`unknown op ${JSON.stringify(req.op)}`);
  }
}
