// The running service as an operator sees it: status, activity, top keys, one key and its nearest
// threshold, readiness, a reset. The HTTP listener and the admin socket serve it; the service feeds it.
import type { AnswerRecord } from '../handler/scoring-observer';
import type { KeyClass, RuleSet, Threshold } from '../rules/rule-set';
import type { ScoreStore } from '../store/score-store';
import type { TrackingFilter, TrackingRecord, TrackingStore } from '../tracking/tracking-record';
import type { Activity, Timeline } from './activity';
import type { HotKeys } from './hot-keys';
import type { FloodgateMetrics } from './metrics';
import type { MeasuredStore } from './measured-store';
import type { DnsListReport, StatusReport } from './status-report';

/** The loaded rules, as the status shows them. */
export interface LoadedRules {
  ruleSet: RuleSet;
  sha256: string;
  loadedAt: number;
}

export interface OperationsSources {
  version: string;
  startedAt: number;
  mode: () => 'enforce' | 'observe';
  rules: () => LoadedRules;
  store: MeasuredStore;
  hotKeys: HotKeys;
  activity: Activity;
  metrics: FloodgateMetrics;
  mta: () => { open: number; delaying: number };
  mtaTotals: () => { total: number; refused: number };
  dns: () => DnsListReport[];
  /** The store must answer within this for /readyz. */
  readyTimeoutMs: number;
  /** The tracking log, when tracking is on: the viewer reads it. */
  tracking?: TrackingStore;
  onReset: (key: string, existed: boolean, by: string) => void;
  now?: () => number;
}

/** Where a score stands among its class's enforced thresholds. */
export interface ThresholdPosition {
  /** The range the score is in now, if any. */
  current?: { above?: number; below?: number; answer: string };
  /** The next range up and the points still missing to reach it. */
  next?: { above: number; answer: string; pointsToGo: number };
}

export interface KeyScore {
  key: string;
  keyClass: string;
  score: number;
  position: ThresholdPosition;
}

export class Operations {
  private readonly now: () => number;

  constructor(private readonly sources: OperationsSources) {
    this.now = sources.now ?? Date.now;
  }

  get metrics(): FloodgateMetrics {
    return this.sources.metrics;
  }

  keyClasses(): KeyClass[] {
    return [...this.sources.rules().ruleSet.keyClasses.keys()];
  }

  async status(): Promise<StatusReport> {
    const s = this.sources;
    const loaded = s.rules();
    const top = this.top(undefined, 5);
    return {
      version: s.version,
      pid: process.pid,
      startedAt: new Date(s.startedAt).toISOString(),
      // The process's own monotonic uptime: a wall clock stepped back would make (now - startedAt) negative.
      uptimeSeconds: Math.round(process.uptime()),
      mode: s.mode(),
      rules: { file: loaded.ruleSet.source, sha256: loaded.sha256, count: loaded.ruleSet.rules.length, loadedAt: new Date(loaded.loadedAt).toISOString(), warnings: [...loaded.ruleSet.warnings] },
      mta: { ...s.mta(), ...s.mtaTotals() },
      activity: [1, 5, 15].map((minutes) => s.activity.window(minutes)),
      top: top.map(({ key, score }) => ({ key, score })),
      store: s.store.health(),
      dns: s.dns(),
    };
  }

  timeline(): Timeline {
    return this.sources.activity.timeline();
  }

  recent(limit: number): AnswerRecord[] {
    return this.sources.activity.recent(limit);
  }

  /** Highest scores, of one class or of all, from the hot keys kept in memory (hot-keys.ts). */
  top(keyClass: string | undefined, limit: number): KeyScore[] {
    return this.sources.hotKeys.top(limit, this.now(), keyClass === undefined ? undefined : `${keyClass}:`).map((k) => this.scored(k.key, k.score));
  }

  async key(key: string): Promise<KeyScore | undefined> {
    const record = await this.sources.store.get(key, this.now());
    return record ? this.scored(record.key, record.score) : undefined;
  }

  async reset(key: string, by: string): Promise<boolean> {
    const existed = await this.sources.store.delete(key);
    this.sources.hotKeys.forget(key);
    this.sources.onReset(key, existed, by);
    return existed;
  }

  get tracking(): boolean {
    return this.sources.tracking !== undefined;
  }

  /** Tracking records, newest first; undefined when tracking is off. */
  track(filter: TrackingFilter): Promise<TrackingRecord[]> | undefined {
    return this.sources.tracking?.find(filter);
  }

  trackRecord(id: number): Promise<TrackingRecord | undefined> | undefined {
    return this.sources.tracking?.get(id);
  }

  /** Ready when the store answers a read within the store timeout. */
  async ready(): Promise<{ ready: true } | { ready: false; reason: string }> {
    const store: ScoreStore = this.sources.store;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`the score store did not answer within ${this.sources.readyTimeoutMs} ms`), this.sources.readyTimeoutMs)));
    const probe = store.get('floodgate:readyz', this.now()).then(
      () => undefined,
      (error: unknown) => `the score store failed: ${String((error as Error).message ?? error)}`,
    );
    try {
      const reason = await Promise.race([probe, deadline]);
      return reason === undefined ? { ready: true } : { ready: false, reason };
    } finally {
      clearTimeout(timer);
    }
  }

  private scored(key: string, score: number): KeyScore {
    const keyClass = key.slice(0, Math.max(0, key.indexOf(':')));
    const thresholds = this.sources.rules().ruleSet.keyClasses.get(keyClass)?.thresholds ?? [];
    return { key, keyClass, score: Math.round(score * 100) / 100, position: positionOf(thresholds, score) };
  }
}

/** The enforced range a score is in (the highest `above` it exceeds, or the lowest `below` it is under) and the next one up. */
export function positionOf(thresholds: readonly Threshold[], score: number): ThresholdPosition {
  const enforced = thresholds.filter((t) => !t.observe);
  const position: ThresholdPosition = {};
  const below = enforced.find((t) => t.below !== undefined && score < t.below);
  const above = enforced.filter((t) => t.above !== undefined && score > t.above).pop();
  const current = below ?? above;
  if (current) position.current = { ...(current.above !== undefined ? { above: current.above } : {}), ...(current.below !== undefined ? { below: current.below } : {}), answer: current.action.kind };
  const next = enforced.find((t) => t.above !== undefined && score <= t.above);
  if (next && next.above !== undefined) position.next = { above: next.above, answer: next.action.kind, pointsToGo: Math.round((next.above - score) * 100) / 100 };
  return position;
}
