// `floodgate status`: one screen about the running service (or its JSON), through the admin socket.
import { adminRequest } from '../admin/admin-client';
import type { StatusReport } from '../ops/status-report';
import { ANSWER_KINDS } from '../ops/status-report';

/** Asks the service; throws AdminUnavailableError when none answers on the socket. */
export async function fetchStatus(adminSocket: string): Promise<StatusReport> {
  const response = await adminRequest(adminSocket, { op: 'status' }, 10_000);
  if (!response.ok) throw new Error(response.error);
  return response.result as StatusReport;
}

export function renderStatus(s: StatusReport): string {
  const lines = [
    `floodgate ${s.version}, pid ${s.pid}, up ${duration(s.uptimeSeconds)} (since ${s.startedAt}), mode ${s.mode}${s.mode === 'observe' ? ' (answers are logged, not given)' : ''}`,
    `rules     ${s.rules.file}: ${s.rules.count} rules, loaded ${s.rules.loadedAt}, sha256 ${s.rules.sha256.slice(0, 12)}, ${s.rules.warnings.length} warnings`,
    `MTA       ${s.mta.open} connections open, ${s.mta.delaying} in a delay, ${s.mta.total} sessions since start, ${s.mta.refused} refused at max_connections`,
    `store     ${s.store.backend}: ${s.store.ok ? 'ok' : `FAILING (${s.store.lastError ?? 'unknown error'})`}, ${s.store.latencyMs ? `p50 ${s.store.latencyMs.p50} ms, p99 ${s.store.latencyMs.p99} ms` : 'no calls yet'}, ${s.store.errors} errors in ${s.store.calls} calls`,
    ...(s.dns.length === 0
      ? ['dns       no lists configured']
      : s.dns.map((d, i) => `${i === 0 ? 'dns       ' : '          '}${d.name} (${d.kind} ${d.zone}): ${d.state === 'ok' ? 'ok' : `DISABLED (${d.reason ?? ''})`}, ${d.queries} queries, ${d.timeouts} timeouts, ${d.errors} errors`)),
    '',
    `          ${'sessions'.padStart(9)}${ANSWER_KINDS.map((k) => k.padStart(10)).join('')}`,
    ...s.activity.map((w) => `last ${`${w.minutes}m`.padEnd(4)}${String(w.sessions).padStart(10)}${ANSWER_KINDS.map((k) => String(w.answers[k]).padStart(10)).join('')}${w.would > 0 ? `  (${w.would} would, observe)` : ''}`),
    '',
    'top keys',
    ...(s.top.length === 0 ? ['  (none)'] : s.top.map((t) => `  ${t.key.padEnd(Math.max(...s.top.map((x) => x.key.length)))}  ${t.score.toFixed(2).padStart(10)}`)),
    ...s.rules.warnings.map((w) => `warning: ${w}`),
  ];
  return `${lines.join('\n')}\n`;
}

function duration(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const parts = d > 0 ? [`${d}d`, `${h}h`] : h > 0 ? [`${h}h`, `${m}m`] : [`${m}m`, `${seconds % 60}s`];
  return parts.join(' ');
}
