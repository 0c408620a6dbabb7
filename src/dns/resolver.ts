// A DNS resolver for per-connection checks: answers as tagged outcomes (never rejects), cached, shared in flight.
import { promises as dns } from 'node:dns';
import { ptrQueryName } from './dns-names';

export interface DnsSettings {
  /** `192.0.2.53`, `127.0.0.1:5353`, `[::1]:5353`; absent = the system's resolv.conf servers. */
  servers?: string[];
  /** Per query and server, as c-ares counts it. */
  timeoutMs: number;
  /** Tries per server (c-ares `tries`): every listed server is still asked once with 1. */
  tries: number;
  /** Most cached answers kept; the least recently used goes first. 0 disables the cache. */
  cacheSize: number;
  minTtlMs: number;
  maxTtlMs: number;
  /** How long NXDOMAIN and NODATA are cached. */
  negativeTtlMs: number;
}

/**
 * 2 s and one try: the resolver Floodgate talks to should be a local caching one (Spamhaus and
 * most lists refuse public resolvers), which does its own retries towards the list's servers, so
 * a retry from here only covers loss on the local link while doubling the worst-case wait of every
 * message when a list is down (c-ares backs off exponentially). With several servers, each is still
 * tried once. 50,000 entries is a few MB and holds an hour of a busy MX's distinct clients; the TTL
 * clamp keeps a 0-second TTL from defeating the cache and a week-long one from pinning a delisting.
 */
export const DEFAULT_DNS_SETTINGS: Readonly<DnsSettings> = Object.freeze({
  timeoutMs: 2000,
  tries: 1,
  cacheSize: 50_000,
  minTtlMs: 30_000,
  maxTtlMs: 3_600_000,
  negativeTtlMs: 300_000,
});

/**
 * What one lookup came to. 'nxdomain' is both NXDOMAIN (c-ares ENOTFOUND) and NODATA (ENODATA:
 * the name exists without records of that type): either way there is no answer to use. 'error'
 * carries the c-ares code: ESERVFAIL, EREFUSED, ECONNREFUSED, EBADRESP, EFORMERR, ECANCELLED, ...
 */
export type DnsOutcome<T> = { kind: 'answer'; values: T; ttlMs: number } | { kind: 'nxdomain' } | { kind: 'error'; code: string } | { kind: 'timeout' };

/** The lookups the checkers need; CachingResolver implements it, tests may fake it. */
export interface DnsLookup {
  a(name: string): Promise<DnsOutcome<string[]>>;
  aaaa(name: string): Promise<DnsOutcome<string[]>>;
  /** The PTR names of an address (not of a name): the resolver builds the in-addr.arpa / ip6.arpa name. */
  ptr(ip: string): Promise<DnsOutcome<string[]>>;
}

/** The part of node:dns's promises.Resolver used here, so tests can substitute it. */
export interface DnsBackend {
  resolve4(name: string, options: { ttl: true }): Promise<Array<{ address: string; ttl: number }>>;
  resolve6(name: string, options: { ttl: true }): Promise<Array<{ address: string; ttl: number }>>;
  resolvePtr(name: string): Promise<string[]>;
  getServers(): string[];
  setServers(servers: string[]): void;
  cancel(): void;
}

export interface CachingResolverOptions {
  now?: () => number;
  backend?: DnsBackend;
  /** Each lookup, answered from the cache or not (the cache hit ratio of /metrics). */
  onCacheLookup?: (hit: boolean) => void;
}

type Outcome = DnsOutcome<string[]>;
interface CacheEntry {
  outcome: Outcome;
  expiresAt: number;
}

const NEGATIVE_CODES = new Set(['ENOTFOUND', 'ENODATA']);

export class CachingResolver implements DnsLookup {
  readonly settings: Readonly<DnsSettings>;
  private readonly backend: DnsBackend;
  private readonly now: () => number;
  /** Map order is insertion order: a hit is re-inserted, so the first key is the least recently used. */
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inFlight = new Map<string, Promise<Outcome>>();
  private readonly guardMs: number;
  private closed = false;
  private readonly onCacheLookup: ((hit: boolean) => void) | undefined;

  constructor(settings: Partial<DnsSettings> = {}, options: CachingResolverOptions = {}) {
    this.settings = Object.freeze({ ...DEFAULT_DNS_SETTINGS, ...settings });
    this.now = options.now ?? Date.now;
    this.onCacheLookup = options.onCacheLookup;
    this.backend = options.backend ?? new dns.Resolver({ timeout: this.settings.timeoutMs, tries: this.settings.tries });
    if (this.settings.servers !== undefined) this.backend.setServers(this.settings.servers);
    // c-ares always ends a query (ETIMEOUT), but a query that never settled would pin its name in
    // inFlight for good; this bound sits past c-ares' exponential backoff over every server and try.
    const servers = Math.max(1, this.backend.getServers().length);
    this.guardMs = this.settings.timeoutMs * this.settings.tries * 2 ** this.settings.tries * servers + 1000;
  }

  a(name: string): Promise<Outcome> {
    return this.lookup('A', normaliseName(name), (n) => this.backend.resolve4(n, { ttl: true }).then(withTtl));
  }

  aaaa(name: string): Promise<Outcome> {
    return this.lookup('AAAA', normaliseName(name), (n) => this.backend.resolve6(n, { ttl: true }).then(withTtl));
  }

  /** Node reports no TTL for PTR records, so PTR answers are kept for minTtlMs. */
  ptr(ip: string): Promise<Outcome> {
    const name = ptrQueryName(ip);
    if (name === undefined) return Promise.resolve({ kind: 'error', code: 'EBADNAME' });
    return this.lookup('PTR', name, (n) => this.backend.resolvePtr(n).then((values) => ({ values, ttlMs: 0 })));
  }

  /** Cached entries, for tests and statistics. */
  get cachedCount(): number {
    return this.cache.size;
  }

  /** Ends every outstanding query now; each resolves as `{ kind: 'error', code: 'ECANCELLED' }`. */
  cancel(): void {
    this.backend.cancel();
  }

  /** Cancels outstanding queries and answers every later lookup with ECANCELLED without asking. */
  close(): void {
    this.closed = true;
    this.cancel();
    this.cache.clear();
  }

  private lookup(type: string, name: string, query: (name: string) => Promise<{ values: string[]; ttlMs: number }>): Promise<Outcome> {
    if (this.closed) return Promise.resolve({ kind: 'error', code: 'ECANCELLED' });
    const key = `${type} ${name}`;
    const cached = this.cached(key);
    this.onCacheLookup?.(cached !== undefined);
    if (cached !== undefined) return Promise.resolve(cached);
    const pending = this.inFlight.get(key);
    if (pending !== undefined) return pending;
    const started = this.guarded(startQuery(query, name))
      .then((answer) => this.answerOutcome(answer), toOutcome)
      .then((outcome) => {
        this.inFlight.delete(key);
        this.store(key, outcome);
        return outcome;
      });
    this.inFlight.set(key, started);
    return started;
  }

  /** The query, or a rejection with ETIMEOUT if it outlives the guard. */
  private guarded<T>(query: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const guard = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error('DNS query outlived its guard'), { code: 'ETIMEOUT' })), this.guardMs);
      timer.unref();
    });
    return Promise.race([query, guard]).finally(() => clearTimeout(timer));
  }

  private cached(key: string): Outcome | undefined {
    const entry = this.cache.get(key);
    if (entry === undefined) return undefined;
    this.cache.delete(key);
    if (entry.expiresAt <= this.now()) return undefined;
    this.cache.set(key, entry);
    if (entry.outcome.kind !== 'answer') return entry.outcome;
    return { ...entry.outcome, ttlMs: entry.expiresAt - this.now() };
  }

  /**
   * Answers for their TTL, NXDOMAIN/NODATA for negativeTtlMs. Errors and timeouts are not kept:
   * a client's lookups are keyed by its own address, so a cached failure would rarely save a
   * query during an outage, while it would hide a recovered server; concurrent lookups of one
   * name already share a single query, and the checkers' deadlines bound the wait.
   */
  private store(key: string, outcome: Outcome): void {
    if (this.settings.cacheSize <= 0 || this.closed) return;
    let ttlMs: number;
    if (outcome.kind === 'answer') ttlMs = outcome.ttlMs;
    else if (outcome.kind === 'nxdomain') ttlMs = this.settings.negativeTtlMs;
    else return;
    this.cache.set(key, { outcome, expiresAt: this.now() + ttlMs });
    while (this.cache.size > this.settings.cacheSize) {
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
    }
  }

  /** An empty answer cannot come from c-ares (it reports ENODATA), but would mean the same. */
  private answerOutcome(answer: { values: string[]; ttlMs: number }): Outcome {
    if (answer.values.length === 0) return { kind: 'nxdomain' };
    const ttlMs = Math.min(this.settings.maxTtlMs, Math.max(this.settings.minTtlMs, answer.ttlMs));
    return { kind: 'answer', values: answer.values, ttlMs };
  }
}

/** Lower case without the root's dot, so `Zen.Example.` and `zen.example` share a cache entry. */
function normaliseName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

/** The addresses and the smallest TTL among them: the set is only as fresh as its shortest-lived record. */
function withTtl(records: Array<{ address: string; ttl: number }>): { values: string[]; ttlMs: number } {
  const ttl = records.length === 0 ? 0 : Math.min(...records.map((r) => r.ttl));
  return { values: records.map((r) => r.address), ttlMs: ttl * 1000 };
}

/** Sends the query now (so a cancel() right after reaches it), turning a synchronous throw into a rejection. */
function startQuery<T>(query: (name: string) => Promise<T>, name: string): Promise<T> {
  try {
    return query(name);
  } catch (error) {
    return Promise.reject(error);
  }
}

function toOutcome(error: unknown): Outcome {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ETIMEOUT') return { kind: 'timeout' };
  if (code !== undefined && NEGATIVE_CODES.has(code)) return { kind: 'nxdomain' };
  return { kind: 'error', code: typeof code === 'string' ? code : 'EUNKNOWN' };
}
