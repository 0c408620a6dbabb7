// `floodgate scores top|show|reset`: through the running service's admin socket, else the store itself.
import type { ServiceConfig } from '../config/service-config';
import { adminRequest, AdminUnavailableError } from '../admin/admin-client';
import type { AdminResponse, ScoreRequest, ScoreView } from '../admin/admin-protocol';
import { runScoreRequest } from '../admin/score-commands';
import { openStore } from '../service/open-store';

export const SCORES_USAGE = `Usage: floodgate scores top [--class CLASS] [-n N] | show KEY | reset KEY`;

export function scoresRequest(args: string[], options: { class?: string; n?: string }): ScoreRequest | undefined {
  const [verb, key, ...rest] = args;
  if (rest.length > 0) return undefined;
  if (verb === 'top' && key === undefined) {
    const n = options.n === undefined ? 20 : Number(options.n);
    if (!Number.isInteger(n) || n < 1) return undefined;
    return options.class ? { op: 'top', n, prefix: `${options.class}:` } : { op: 'top', n };
  }
  if ((verb === 'show' || verb === 'reset') && key !== undefined) return { op: verb, key };
  return undefined;
}

/**
 * Asks the live service first. When no service answers, opens the store directly: LevelDB allows
 * one process at a time, so this works only while the service is stopped (and says so otherwise).
 */
export async function runScores(config: ServiceConfig, request: ScoreRequest, out: NodeJS.WritableStream): Promise<AdminResponse> {
  let response: AdminResponse;
  try {
    response = await adminRequest(config.adminSocket, request);
  } catch (error) {
    if (!(error instanceof AdminUnavailableError) || config.storeBackend === 'memory') throw error;
    const store = await openStore(config);
    try {
      response = await runScoreRequest(store, request, Date.now());
    } finally {
      await store.close();
    }
  }
  if (!response.ok) return response;
  out.write(render(request, response.result as ScoreView[] | ScoreView | null | boolean));
  return response;
}

function render(request: ScoreRequest, result: ScoreView[] | ScoreView | null | boolean): string {
  if (request.op === 'reset') return result ? `reset ${request.key}\n` : `${request.key}: no such key (nothing to reset)\n`;
  if (result === null) return `${(request as { key: string }).key}: no score\n`;
  const rows = Array.isArray(result) ? result : [result as ScoreView];
  if (rows.length === 0) return 'no scores\n';
  const width = Math.max(...rows.map((r) => r.key.length), 3);
  const lines = rows.map((r) => `${r.key.padEnd(width)}  ${r.score.toFixed(2).padStart(10)}  ${r.updatedAt}  ${r.expiresAt}`);
  return [`${'KEY'.padEnd(width)}  ${'SCORE'.padStart(10)}  UPDATED                   EXPIRES`, ...lines, ''].join('\n');
}
