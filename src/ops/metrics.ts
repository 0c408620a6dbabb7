// Floodgate's Prometheus metrics (prom-client): what each part reports, named and labelled once.
//
// No label takes a value an SMTP client chooses (addresses, names, HELO): label values are stages,
// answer kinds, key classes, rule and list names from the rules file, error codes. However wide a
// flood, the number of series stays what the configuration makes it.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FloodgateError } from '../errors';
import type { AnswerRecord, ScoringObserver } from '../handler/scoring-observer';
import type { KeyClass, ThresholdAction } from '../rules/rule-set';
import type { Decision } from '../session/handler';
import type { DecisionStage } from '../session/session';
import { LatencyHistogram } from './latency-histogram';
import { TalliedCounter } from './tallied-counter';

/** Live values read at scrape time. */
export interface MetricSources {
  mtaConnections(): number;
  delaying(): number;
  /** Tracking records not yet written (0 with tracking off). */
  trackingQueue(): number;
}

export type StoreOperation = 'add' | 'get' | 'delete' | 'top' | 'size' | 'sweep' | 'other';

export class FloodgateMetrics {
  readonly registry = new Registry();
  private readonly connectionsTotal: TalliedCounter<string>;
  private readonly connectionsRefused: Counter<string>;
  // Counted on the mail path, several times a session: tallied (tallied-counter.ts).
  private readonly events: TalliedCounter<'stage'>;
  private readonly replies: TalliedCounter<'stage' | 'reply'>;
  private readonly answers: TalliedCounter<'event' | 'answer' | 'observe'>;
  private readonly ruleMatches: TalliedCounter<'rule'>;
  private readonly thresholds: TalliedCounter<'key_class' | 'answer' | 'observe'>;
  private readonly tarpit: Histogram<string>;
  /** Not in the registry: text() appends it (latency-histogram.ts). */
  private readonly storeSeconds: LatencyHistogram;
  private readonly storeErrors: Counter<'backend'>;
  private readonly storeFailedAnswers: Counter<string>;
  private readonly alerts: Counter<'result'>;
  private readonly reloads: Counter<'result'>;
  private readonly rulesInfo: Gauge<'file' | 'sha256'>;
  private readonly rulesCount: Gauge<string>;
  private readonly protocolErrors: Counter<'code'>;
  private readonly handlerErrors: Counter<'stage'>;
  readonly dns: DnsMetrics;
  private readonly trackingWritten: Counter<string>;
  private readonly trackingDropped: Counter<'reason'>;

  constructor(sources: MetricSources, version: string) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // prom-client names three gauges *_total, which promtool's lint refuses (a counter suffix on a gauge).
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
    new Gauge({ name: 'floodgate_build_info', help: 'Floodgate version and the Node.js running it', labelNames: ['version', 'node'], registers }).set({ version, node: process.version }, 1);
    new Gauge({ name: 'floodgate_mta_connections', help: 'MTA connections open now', registers, collect() { this.set(sources.mtaConnections()); } });
    this.connectionsTotal = new TalliedCounter({ name: 'floodgate_mta_connections_total', help: 'MTA connections accepted (one per SMTP session)', registers });
    this.connectionsRefused = new Counter({ name: 'floodgate_mta_connections_refused_total', help: 'MTA connections refused at limits.max_connections', registers });
    new Gauge({ name: 'floodgate_delays_in_progress', help: 'Sessions waiting out a tarpit delay now', registers, collect() { this.set(sources.delaying()); } });
    this.events = new TalliedCounter({ name: 'floodgate_events_total', help: 'Milter events handled, by stage (answered, or negotiated without a reply)', labelNames: ['stage'], registers });
    this.replies = new TalliedCounter({ name: 'floodgate_milter_replies_total', help: 'Replies sent to the MTA, by stage and reply (continue included)', labelNames: ['stage', 'reply'], registers });
    this.answers = new TalliedCounter({
      name: 'floodgate_answers_total',
      help: 'Answers other than continue decided by the rules, by event and answer; observe="true": only logged (mode: observe)',
      labelNames: ['event', 'answer', 'observe'],
      registers,
    });
    this.ruleMatches = new TalliedCounter({ name: 'floodgate_rule_matches_total', help: 'Rule matches, by rule name', labelNames: ['rule'], registers });
    this.thresholds = new TalliedCounter({ name: 'floodgate_threshold_crossings_total', help: 'Scores that fell in a threshold range, by key class and answer', labelNames: ['key_class', 'answer', 'observe'], registers });
    this.tarpit = new Histogram({ name: 'floodgate_tarpit_seconds', help: 'Tarpit delays served', buckets: [0.5, 1, 2, 5, 10, 15, 20, 25, 30], registers });
    this.storeSeconds = new LatencyHistogram(
      'floodgate_store_call_seconds',
      'Score store call latency, by backend and operation',
      [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    );
    this.storeErrors = new Counter({ name: 'floodgate_store_errors_total', help: 'Score store calls that failed or timed out, by backend', labelNames: ['backend'], registers });
    this.storeFailedAnswers = new Counter({ name: 'floodgate_store_failure_answers_total', help: 'Evaluations answered by on_store_error because the store failed', registers });
    this.alerts = new Counter({ name: 'floodgate_alert_mails_total', help: 'Alert mails: sent, or held back by the key\'s cooldown', labelNames: ['result'], registers });
    this.reloads = new Counter({ name: 'floodgate_config_reloads_total', help: 'Configuration and rules reloads, by result', labelNames: ['result'], registers });
    this.rulesInfo = new Gauge({ name: 'floodgate_rules_info', help: 'The loaded rules file and its SHA-256', labelNames: ['file', 'sha256'], registers });
    this.rulesCount = new Gauge({ name: 'floodgate_rules', help: 'Rules in the loaded rules file', registers });
    this.protocolErrors = new Counter({ name: 'floodgate_protocol_errors_total', help: 'MTA connections closed for a protocol error, by error code', labelNames: ['code'], registers });
    this.handlerErrors = new Counter({ name: 'floodgate_handler_errors_total', help: 'Events answered by on_handler_error because the handler failed, by stage', labelNames: ['stage'], registers });
    this.dns = new DnsMetrics(this.registry);
    this.trackingWritten = new Counter({ name: 'floodgate_tracking_records_written_total', help: 'Tracking records written to the database', registers });
    this.trackingDropped = new Counter({
      name: 'floodgate_tracking_records_dropped_total',
      help: 'Tracking records lost: the queue was full, or the database refused their batch',
      labelNames: ['reason'],
      registers,
    });
    new Gauge({ name: 'floodgate_tracking_queue', help: 'Tracking records waiting to be written', registers, collect() { this.set(sources.trackingQueue()); } });
    for (const reason of ['queue full', 'database error']) this.trackingDropped.inc({ reason }, 0);
    for (const result of ['success', 'failure']) this.reloads.inc({ result }, 0);
    for (const result of ['sent', 'cooldown']) this.alerts.inc({ result }, 0);
  }

  /** The scoring handler's observer: answers, rule matches, threshold crossings, store failures, alerts. */
  readonly scoring: ScoringObserver = {
    answered: (record: AnswerRecord) => this.answers.inc(record.event, record.answer, record.would ? 'true' : 'false'),
    ruleMatched: (rule: string) => this.ruleMatches.inc(rule),
    thresholdCrossed: (keyClass: KeyClass, answer: ThresholdAction['kind'], observe: boolean) => this.thresholds.inc(keyClass, answer, observe ? 'true' : 'false'),
    keysScored: () => undefined,
    storeFailed: () => this.storeFailedAnswers.inc(),
    alerted: (result) => this.alerts.inc({ result }),
  };

  connectionAccepted(): void {
    this.connectionsTotal.inc();
  }

  connectionRefused(): void {
    this.connectionsRefused.inc();
  }

  /** One event handled; its reply sent to the MTA after `delayMs` of tarpit, unless it was negotiated without one. */
  replied(stage: DecisionStage, reply: Decision['kind'] | 'skip', delayMs: number, answered: boolean): void {
    this.events.inc(stage);
    if (!answered) return;
    this.replies.inc(stage, reply);
    if (delayMs > 0) this.tarpit.observe(delayMs / 1000);
  }

  protocolError(error: FloodgateError): void {
    this.protocolErrors.inc({ code: error.code });
  }

  handlerError(stage: string): void {
    this.handlerErrors.inc({ stage });
  }

  storeCall(backend: string, operation: StoreOperation, seconds: number, failed: boolean): void {
    this.storeSeconds.observe(backend, operation, seconds);
    if (failed) this.storeErrors.inc({ backend });
  }

  rulesLoaded(file: string, sha256: string, count: number): void {
    this.rulesInfo.reset();
    this.rulesInfo.set({ file, sha256 }, 1);
    this.rulesCount.set(count);
  }

  tracked(written: number): void {
    this.trackingWritten.inc(written);
  }

  trackingLost(count: number, reason: 'queue full' | 'database error'): void {
    this.trackingDropped.inc({ reason }, count);
  }

  reloaded(ok: boolean): void {
    this.reloads.inc({ result: ok ? 'success' : 'failure' });
  }

  /** The exposition text, for GET /metrics. */
  async text(): Promise<string> {
    return (await this.registry.metrics()) + this.storeSeconds.text();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** DNS list lookups: per list (names from the rules file), and the resolver's cache. */
export class DnsMetrics {
  private readonly queries: Counter<'list'>;
  private readonly results: Counter<'list' | 'result'>;
  private readonly disabled: Gauge<'list'>;
  private readonly cache: Counter<'result'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.queries = new Counter({ name: 'floodgate_dns_queries_total', help: 'DNS list queries sent, by list', labelNames: ['list'], registers });
    this.results = new Counter({
      name: 'floodgate_dns_answers_total',
      help: 'DNS list answers, by list and result (listed, not-listed, timeout, error, list-error, rewritten, disabled)',
      labelNames: ['list', 'result'],
      registers,
    });
    this.disabled = new Gauge({ name: 'floodgate_dns_list_disabled', help: '1 while a list is disabled for answering wrongly', labelNames: ['list'], registers });
    this.cache = new Counter({ name: 'floodgate_dns_cache_lookups_total', help: 'Resolver cache lookups, by result (hit, miss)', labelNames: ['result'], registers });
  }

  queried(list: string): void {
    this.queries.inc({ list });
  }

  answered(list: string, result: string): void {
    this.results.inc({ list, result });
  }

  listState(list: string, disabled: boolean): void {
    this.disabled.set({ list }, disabled ? 1 : 0);
  }

  cacheLookup(hit: boolean): void {
    this.cache.inc({ result: hit ? 'hit' : 'miss' });
  }
}
