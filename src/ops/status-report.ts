// What `floodgate status`, the status page and /readyz show of the running service: one shape, one builder.
import type { AnswerKind } from '../handler/scoring-observer';

export const ANSWER_KINDS: readonly AnswerKind[] = ['reject', 'tempfail', 'delay', 'discard', 'ok'];

/** Sessions and answers over the last N minutes. */
export interface ActivityWindow {
  minutes: number;
  sessions: number;
  answers: Record<AnswerKind, number>;
  /** Of `answers`, how many were only what Floodgate would have done (mode: observe). */
  would: number;
}

export interface StoreHealthReport {
  backend: 'level' | 'redis' | 'memory';
  /** False from a failed call until one succeeds again. */
  ok: boolean;
  /** The last failure's message, while not ok. */
  lastError?: string;
  calls: number;
  errors: number;
  /** Over the last 1,000 calls on the mail path (add, get, delete); null before the first. */
  latencyMs: { p50: number; p99: number } | null;
}

export interface DnsListReport {
  name: string;
  kind: 'dnsbl' | 'rhsbl';
  zone: string;
  /** disabled: the list answered wrongly (an error code, an answer outside 127/8) and is not obeyed. */
  state: 'ok' | 'disabled';
  reason?: string;
  queries: number;
  timeouts: number;
  errors: number;
}

export interface StatusReport {
  version: string;
  pid: number;
  /** ISO 8601. */
  startedAt: string;
  uptimeSeconds: number;
  mode: 'enforce' | 'observe';
  rules: { file: string; sha256: string; count: number; loadedAt: string; warnings: string[] };
  mta: { open: number; total: number; refused: number; delaying: number };
  /** The last 1, 5 and 15 minutes. */
  activity: ActivityWindow[];
  /** The five highest scores of any class. */
  top: Array<{ key: string; score: number }>;
  store: StoreHealthReport;
  dns: DnsListReport[];
}
