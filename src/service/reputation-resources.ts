// What the reputation checks share across reloads: one resolver with its cache, one watcher per recipient map.
import type { DnsConfig } from '../config/service-config';
import { CachingResolver, DEFAULT_DNS_SETTINGS } from '../dns/resolver';
import type { Logger } from '../log/logger';
import { WatchedRecipientMap } from '../recipients/watched-recipient-map';
import type { DnsListResult } from '../dns/dns-lists';
import type { DnsMetrics } from '../ops/metrics';
import type { DnsListReport } from '../ops/status-report';
import { ReputationChecks } from '../reputation/reputation-checks';
import type { RecipientMapSettings, ReputationSettings } from '../rules/rule-set';

/** How often a recipient map's file is checked for changes. */
const RECIPIENT_MAP_POLL_MS = 5_000;

/** A list's counts since the service started (kept across reloads by kind and name). */
interface ListCounts {
  queries: number;
  timeouts: number;
  errors: number;
}

export class ReputationLookupResources {
  private resolver?: { key: string; resolver: CachingResolver };
  private recipients?: { key: string; map: WatchedRecipientMap };
  private checks?: ReputationChecks;
  private readonly counts = new Map<string, ListCounts>();

  /** With `metrics` (the service), every list result and cache lookup is counted for /metrics. */
  constructor(private readonly metrics?: DnsMetrics) {}

  /**
   * Checks for a freshly loaded rule set. The resolver (and its cache) survives a reload unless the
   * dns settings changed; a recipient map is loaded again only if the rules name another one. Rejects
   * with RecipientMapError when a new map cannot be loaded; the running one is then kept.
   */
  async checksFor(settings: ReputationSettings, dns: DnsConfig, logger: Logger): Promise<ReputationChecks> {
    const recipients = settings.recipients ? await this.recipientMap(settings.recipients, logger) : undefined;
    if (!settings.recipients) this.closeRecipients();
    this.checks = new ReputationChecks({
      settings,
      resolver: this.resolverFor(dns),
      recipients: () => recipients?.current,
      deadlineMs: dns.timeoutMs,
      onListEvent: (event) => {
        this.metrics?.listState(event.name, event.kind === 'disabled');
        logger.warn('dns list', { ...event });
      },
      onListResult: (kind, result) => this.count(kind, result),
    });
    return this.checks;
  }

  /** The lists of the rules in force, with their state and counts, for the status page. */
  dnsReports(): DnsListReport[] {
    return (this.checks?.listStates() ?? []).map((list) => ({
      name: list.name,
      kind: list.kind,
      zone: list.zone,
      state: list.disabled ? 'disabled' : 'ok',
      ...(list.reason ? { reason: list.reason } : {}),
      ...(this.counts.get(`${list.kind}:${list.name}`) ?? { queries: 0, timeouts: 0, errors: 0 }),
    }));
  }

  private count(kind: 'dnsbl' | 'rhsbl', result: DnsListResult): void {
    // A disabled list is not asked: no query to count.
    if (result.status === 'disabled') return;
    const name = `${kind}:${result.name}`;
    let counts = this.counts.get(name);
    if (!counts) this.counts.set(name, (counts = { queries: 0, timeouts: 0, errors: 0 }));
    counts.queries++;
    if (result.status === 'timeout') counts.timeouts++;
    if (result.status === 'error' || result.status === 'list-error' || result.status === 'rewritten') counts.errors++;
    this.metrics?.queried(result.name);
    this.metrics?.answered(result.name, result.status);
  }

  close(): void {
    this.checks = undefined;
    this.resolver?.resolver.close();
    this.resolver = undefined;
    this.closeRecipients();
  }

  private resolverFor(dns: DnsConfig): CachingResolver {
    const key = JSON.stringify(dns);
    if (this.resolver?.key === key) return this.resolver.resolver;
    this.resolver?.resolver.close();
    const metrics = this.metrics;
    const resolver = new CachingResolver(
      {
        ...DEFAULT_DNS_SETTINGS,
        ...(dns.servers ? { servers: [...dns.servers] } : {}),
        timeoutMs: dns.timeoutMs,
        cacheSize: dns.cacheSize,
      },
      metrics ? { onCacheLookup: (hit) => metrics.cacheLookup(hit) } : {},
    );
    this.resolver = { key, resolver };
    return resolver;
  }

  private async recipientMap(spec: RecipientMapSettings, logger: Logger): Promise<WatchedRecipientMap> {
    const key = JSON.stringify(spec);
    if (this.recipients?.key === key) return this.recipients.map;
    const map = new WatchedRecipientMap(
      { path: spec.path, type: spec.type, delimiter: spec.delimiter, domains: [...spec.domains], ...(spec.postfixConfig ? { configDir: spec.postfixConfig } : {}) },
      {
        intervalMs: RECIPIENT_MAP_POLL_MS,
        onReload: (info) => logger.info('recipient map reloaded', { map: `${spec.type}:${spec.path}`, ...info }),
        onError: (error) => logger.error('recipient map reload failed, keeping the loaded one', { map: `${spec.type}:${spec.path}`, code: error.code, error: error.message }),
      },
    );
    await map.start();
    logger.info('recipient map loaded', { map: `${spec.type}:${spec.path}`, entries: map.current.size });
    this.closeRecipients();
    this.recipients = { key, map };
    return map;
  }

  private closeRecipients(): void {
    void this.recipients?.map.close();
    this.recipients = undefined;
  }
}
