// Executes admin requests against a score store; used by the admin socket and by the CLI directly.
import type { ScoreRecord, ScoreStore } from '../store/score-store';
import type { AdminResponse, ScoreRequest, ScoreView } from './admin-protocol';

/** The score requests; `status` and `reload` are the running service's own (AdminServer). */
export async function runScoreRequest(store: ScoreStore, request: ScoreRequest, now: number): Promise<AdminResponse> {
  switch (request.op) {
    case 'top':
      return { ok: true, result: (await store.top(request.n, now, request.prefix)).map(view) };
    case 'show': {
      const record = await store.get(request.key, now);
      return { ok: true, result: record ? view(record) : null };
    }
    case 'reset':
      return { ok: true, result: await store.delete(request.key) };
  }
}

function view(record: ScoreRecord): ScoreView {
  return {
    key: record.key,
    score: Math.round(record.score * 100) / 100,
    updatedAt: new Date(record.updatedAt).toISOString(),
    expiresAt: new Date(record.expiresAt).toISOString(),
    halfLifeSeconds: record.halfLifeMs / 1000,
  };
}
