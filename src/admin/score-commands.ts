// Executes admin requests against a score store; used by the admin socket and by the CLI directly.
import type { ScoreRecord, ScoreStore } from '../store/score-store';
import type { AdminRequest, AdminResponse, ScoreView } from './admin-protocol';

export async function runAdminRequest(store: ScoreStore, request: AdminRequest, now: number): Promise<AdminResponse> {
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
