// Looks up what rules read beyond the envelope (DNS lists, reverse DNS, the recipient map) and adds it to the facts.
import type { CachingResolver } from '../dns/resolver';
import { DnsListChecker, type DnsListEvent, type DnsListReport, type DnsListResult, type DnsListState } from '../dns/dns-lists';
import { checkReverseDns, DEFAULT_DYNAMIC_PTR_PATTERNS, type ReverseDnsReport } from '../dns/reverse-dns';
import type { RecipientMap } from '../recipients/recipient-map';
import type { Facts, ListingFacts, ReputationFact, ReputationSettings } from '../rules/rule-set';
import type { SessionContext } from '../session/handler';
import { compilePattern, type TextPattern } from '../rules/pattern';

export interface ReputationChecksOptions {
  settings: ReputationSettings;
  resolver: CachingResolver;
  /** The recipient map as currently loaded (it is reloaded when its file changes). */
  recipients?: () => RecipientMap | undefined;
  /** Longest wait for one check; a slower one counts as no answer (not listed, reverse DNS unknown). */
  deadlineMs: number;
  /** A list disabled or re-enabled for answering wrongly. */
  onListEvent?: (event: DnsListEvent) => void;
  /** Each list's result of each check. */
  onListResult?: (kind: 'dnsbl' | 'rhsbl', result: DnsListResult) => void;
}

/** What one connection looked up; every promise resolves (by its deadline), none rejects. */
export interface SessionLookups {
  dnsbl?: Promise<DnsListReport>;
  reverseDns?: Promise<ReverseDnsReport>;
  /** RHSBL reports by domain: the HELO name and the sender domains seen on this connection. */
  rhsbl: Map<string, Promise<DnsListReport>>;
}

export class ReputationChecks {
  private readonly dnsbl?: DnsListChecker;
  private readonly rhsbl?: DnsListChecker;
  private readonly dynamicPtr: readonly TextPattern[];
  private readonly wanted: ReadonlySet<ReputationFact>;
  private readonly sessions = new WeakMap<SessionContext, SessionLookups>();

  constructor(private readonly options: ReputationChecksOptions) {
    const { settings, resolver, onListEvent, onListResult } = options;
    const counted = (kind: 'dnsbl' | 'rhsbl') => (onListResult ? { onResult: (result: DnsListResult) => onListResult(kind, result) } : {});
    if (settings.dnsbl.length > 0) this.dnsbl = new DnsListChecker(resolver, settings.dnsbl, onListEvent, counted('dnsbl'));
    if (settings.rhsbl.length > 0) this.rhsbl = new DnsListChecker(resolver, settings.rhsbl, onListEvent, counted('rhsbl'));
    this.dynamicPtr = settings.dynamicPtr ?? DEFAULT_DYNAMIC_PTR_PATTERNS.map(compileShippedPattern);
    this.wanted = new Set([...settings.reads.values()].flatMap((set) => [...set]));
  }
  /** Every configured list and whether it is disabled now. */
  listStates(): Array<DnsListState & { kind: 'dnsbl' | 'rhsbl' }> {
    return [...(this.dnsbl?.states().map((s) => ({ ...s, kind: 'dnsbl' as const })) ?? []), ...(this.rhsbl?.states().map((s) => ({ ...s, kind: 'rhsbl' as const })) ?? [])];
  }


  /** True when no rule reads anything this class looks up: the handler can skip it. */
  get idle(): boolean {
    return this.wanted.size === 0;
  }

  /**
   * The facts with what this event's rules read filled in. Lookups start as soon as their input is
   * known (the client IP at connect), so DNS runs while the MTA is still talking; only this event's
   * own needs are awaited.
   */
  async enrich(ctx: SessionContext, facts: Facts): Promise<Facts> {
    const lookups = this.lookupsFor(ctx, facts);
    const reads = this.options.settings.reads.get(facts.event);
    if (!reads) return facts;
    const enriched: Facts = { ...facts };
    const pending: Array<Promise<void>> = [];
    if (reads.has('dnsbl') && lookups.dnsbl) pending.push(lookups.dnsbl.then((r) => void (enriched.dnsbl = listing([r]))));
    if (reads.has('reverse_dns') && lookups.reverseDns) pending.push(lookups.reverseDns.then((r) => void (enriched.reverseDns = r.status)));
    if (reads.has('rhsbl')) {
      const domains = [facts.helo, facts.senderDomain].filter((d): d is string => d !== undefined && lookups.rhsbl.has(d));
      pending.push(Promise.all(domains.map((d) => lookups.rhsbl.get(d)!)).then((reports) => void (enriched.rhsbl = listing(reports))));
    }
    if (reads.has('recipient_known') && facts.recipient !== undefined && facts.recipient !== '') {
      const listed = this.options.recipients?.()?.isKnown(facts.recipient);
      // RFC 5321 section 4.5.1: postmaster must be accepted for every domain we receive for, listed or not.
      const known = listed === false && facts.recipient.startsWith('postmaster@') ? true : listed;
      if (known !== undefined) enriched.recipientKnown = known;
    }
    await Promise.all(pending);
    return enriched;
  }

  /** Starts the lookups whose input the facts carry, without waiting for them. */
  start(ctx: SessionContext, facts: Facts): void {
    this.lookupsFor(ctx, facts);
  }

  /** The connection's lookups so far (for `simulate` and the debug log). */
  lookups(ctx: SessionContext): SessionLookups | undefined {
    return this.sessions.get(ctx);
  }

  private lookupsFor(ctx: SessionContext, facts: Facts): SessionLookups {
    let lookups = this.sessions.get(ctx);
    if (!lookups) {
      lookups = { rhsbl: new Map() };
      this.sessions.set(ctx, lookups);
    }
    const deadline = this.options.deadlineMs;
    const ip = facts.clientIp;
    if (ip !== undefined) {
      if (this.dnsbl && this.wanted.has('dnsbl') && !lookups.dnsbl) lookups.dnsbl = this.dnsbl.checkIp(ip, deadline);
      if (this.wanted.has('reverse_dns') && !lookups.reverseDns) lookups.reverseDns = checkReverseDns(this.options.resolver, ip, this.dynamicPtr, deadline);
    }
    if (this.rhsbl && this.wanted.has('rhsbl')) {
      for (const domain of [facts.helo, facts.senderDomain]) {
        if (domain !== undefined && domain !== '' && !lookups.rhsbl.has(domain)) lookups.rhsbl.set(domain, this.rhsbl.checkDomain(domain, deadline));
      }
    }
    return lookups;
  }
}

/** Several reports (one per domain) as one listing: each list counts once, whichever domain it lists. */
function listing(reports: readonly DnsListReport[]): ListingFacts {
  const weights = new Map<string, number>();
  for (const report of reports) for (const r of report.results) if (r.status === 'listed') weights.set(r.name, r.weight);
  let score = 0;
  for (const weight of weights.values()) score += weight;
  return { score, listedOn: new Set(weights.keys()) };
}

/** The shipped patterns are tested to compile; a failure here is a bug in Floodgate, not in the rules. */
function compileShippedPattern(source: string): TextPattern {
  const pattern = compilePattern(source);
  if (typeof pattern === 'string') throw new Error(`shipped reverse-DNS pattern: ${pattern}`);
  return pattern;
}
