// Asks DNS block- and allow-lists about a client address or a domain, and stops trusting lists that answer wrongly.
import { anyFilterMatches, ipv4Octets, type AnswerFilter } from '../net/answer-filter';
import { MAX_DOMAIN_LENGTH, plausibleDomain, reversedAddress } from './dns-names';
import type { DnsLookup, DnsOutcome } from './resolver';

export interface DnsListSpec {
  readonly name: string;
  /** `zen.spamhaus.org`: queried as `<reversed IP or domain>.<zone>`. */
  readonly zone: string;
  /** Empty: any answer in 127.0.0.0/8 that is not a list error counts. */
  readonly filters: readonly AnswerFilter[];
  /** Added to the score when listed; negative for allow-lists (DNSWL). */
  readonly weight: number;
}

export type DnsListStatus = 'listed' | 'not-listed' | 'list-error' | 'rewritten' | 'error' | 'timeout' | 'disabled';

export interface DnsListResult {
  name: string;
  zone: string;
  status: DnsListStatus;
  /** The A records the list returned, as received (for the log), whatever the status. */
  answers: string[];
  /** The weight counted: the list's weight when listed, else 0. */
  weight: number;
}

export interface DnsListReport {
  /** Sum of the counted weights. */
  score: number;
  /** One per list, in the order the lists were given. Empty when there was nothing to ask about. */
  results: DnsListResult[];
}

export type DnsListEvent =
  | { kind: 'disabled'; name: string; zone: string; reason: string; forMs: number }
  | { kind: 're-enabled'; name: string; zone: string; reason: string };

export interface DnsListCheckerOptions {
  now?: () => number;
  /** Different names answered wrongly (list errors, rewritten NXDOMAIN) in a row, after which a list is disabled. */
  disableAfter?: number;
  /** How long a disabled list is left alone before it is asked again. */
  disableForMs?: number;
  /** Each list's result of each check (metrics count them). */
  onResult?: (result: DnsListResult) => void;
}

/** One list's state, for the status page. */
export interface DnsListState {
  name: string;
  zone: string;
  disabled: boolean;
  /** Why it was disabled, while it is. */
  reason?: string;
}

/**
 * Five in a row: one wrong answer can be one bad resolver in a pool or a momentary quota, wrong
 * answers for five different names with no correct answer between are a configuration problem. Wrong answers
 * never count as listings anyway, so disabling is about saving queries and telling the operator
 * once, not about correctness, and need not be hair-trigger. Ten minutes bounds the log to six
 * lines an hour per broken list while noticing a fix (a new resolver, a DQS key) soon enough.
 */
export const DEFAULT_DISABLE_AFTER = 5;
export const DEFAULT_DISABLE_FOR_MS = 10 * 60_000;

/**
 * Spamhaus' error range (127.255.255.0/24, announced 2019): .252 typing error in the zone name,
 * .254 query through a public/open resolver, .255 excessive number of queries. These say nothing
 * about the address asked about and must never count as a listing, whatever else is returned.
 */
const LIST_ERROR_CODES: Readonly<Record<string, string>> = {
  '127.255.255.252': 'typing error in the list zone name',
  '127.255.255.254': 'the list refuses queries from public/open resolvers',
  '127.255.255.255': 'excessive number of queries',
};

type Judgement = 'listed' | 'not-listed' | 'list-error' | 'rewritten';

/**
 * What a list's A records mean. Any answer in 127.255.255.0/24 makes the whole answer a list
 * error. Answers outside 127.0.0.0/8 are ignored: a list only answers in loopback space, so they
 * come from a resolver that turns NXDOMAIN into its own address (ISP search pages); if nothing is
 * left the answer is 'rewritten'. What is left is a listing if a filter (or, without filters,
 * anything) matches, and 'not-listed' otherwise.
 */
export function judgeAnswers(answers: readonly string[], filters: readonly AnswerFilter[]): Judgement {
  if (answers.some(isListError)) return 'list-error';
  const loopback = answers.filter((answer) => ipv4Octets(answer)?.[0] === 127);
  if (loopback.length === 0) return 'rewritten';
  return loopback.some((answer) => anyFilterMatches(filters, answer)) ? 'listed' : 'not-listed';
}

function isListError(answer: string): boolean {
  const octets = ipv4Octets(answer);
  return octets !== undefined && octets[0] === 127 && octets[1] === 255 && octets[2] === 255;
}

interface ListState {
  readonly spec: DnsListSpec;
  readonly zone: string;
  /**
   * Names answered wrongly since the last correct answer. Counted by name, not by answer: a busy
   * client's cached answer handed out again is not new evidence against the list.
   */
  readonly wrongNames: Set<string>;
  /** 0 while enabled; while disabled, the time from which the list is asked again. */
  disabledUntil: number;
  /** Set while disabled and until a correct answer re-enables it. */
  distrusted: boolean;
  /** Why it was last disabled. */
  reason?: string;
}

export class DnsListChecker {
  private readonly lists: ListState[];
  private readonly now: () => number;
  private readonly disableAfter: number;
  private readonly disableForMs: number;
  private readonly onResult: ((result: DnsListResult) => void) | undefined;

  constructor(
    private readonly resolver: DnsLookup,
    lists: readonly DnsListSpec[],
    private readonly onEvent: (event: DnsListEvent) => void = () => undefined,
    options: DnsListCheckerOptions = {},
  ) {
    this.lists = lists.map((spec) => ({ spec, zone: spec.zone.toLowerCase().replace(/^\.+|\.+$/g, ''), wrongNames: new Set(), disabledUntil: 0, distrusted: false }));
    this.now = options.now ?? Date.now;
    this.disableAfter = Math.max(1, options.disableAfter ?? DEFAULT_DISABLE_AFTER);
    this.disableForMs = options.disableForMs ?? DEFAULT_DISABLE_FOR_MS;
    this.onResult = options.onResult;
  }

  states(): DnsListState[] {
    const now = this.now();
    return this.lists.map((list) => {
      const disabled = list.disabledUntil > now;
      return { name: list.spec.name, zone: list.zone, disabled, ...(disabled && list.reason ? { reason: list.reason } : {}) };
    });
  }

  /** DNSBL/DNSWL lookups of a client address (IPv4 reversed, IPv6 as nibbles); no lists asked for a non-address. */
  checkIp(ip: string, deadlineMs?: number): Promise<DnsListReport> {
    const reversed = reversedAddress(ip);
    if (reversed === undefined) return Promise.resolve({ score: 0, results: [] });
    return this.checkAll(reversed, deadlineMs);
  }

  /** RHSBL lookups of a domain; no lists asked for an address literal or a name that cannot be a domain. */
  checkDomain(domain: string, deadlineMs?: number): Promise<DnsListReport> {
    const name = plausibleDomain(domain);
    if (name === undefined) return Promise.resolve({ score: 0, results: [] });
    return this.checkAll(name, deadlineMs);
  }

  /** Every list in parallel; at the deadline, lists still waiting are reported as 'timeout'. */
  private async checkAll(prefix: string, deadlineMs: number | undefined): Promise<DnsListReport> {
    let timer: NodeJS.Timeout | undefined;
    const expired =
      deadlineMs === undefined
        ? undefined
        : new Promise<'expired'>((resolve) => {
            timer = setTimeout(() => resolve('expired'), Math.max(0, deadlineMs));
          });
    try {
      const results = await Promise.all(this.lists.map((list) => this.checkOne(list, prefix, expired)));
      if (this.onResult) for (const r of results) this.onResult(r);
      return { score: results.reduce((sum, r) => sum + r.weight, 0), results };
    } finally {
      clearTimeout(timer);
    }
  }

  private async checkOne(list: ListState, prefix: string, expired: Promise<'expired'> | undefined): Promise<DnsListResult> {
    const result = (status: DnsListStatus, answers: string[] = []): DnsListResult => ({
      name: list.spec.name,
      zone: list.zone,
      status,
      answers,
      weight: status === 'listed' ? list.spec.weight : 0,
    });
    if (list.disabledUntil > this.now()) return result('disabled');
    const queryName = `${prefix}.${list.zone}`;
    // No list can hold a name DNS cannot carry: asking would only earn EBADNAME.
    if (queryName.length > MAX_DOMAIN_LENGTH) return result('not-listed');
    // The bookkeeping runs when the answer arrives, even after the deadline: it is about the list.
    // A resolver that throws or rejects (a fake, a bug) is an error for this list, not for the check.
    const lookup = Promise.resolve(queryName)
      .then((name) => this.resolver.a(name))
      .then(
        (outcome) => this.judge(list, queryName, outcome),
        () => ({ status: 'error' as const, answers: [] }),
      );
    const judged = expired === undefined ? await lookup : await Promise.race([lookup, expired]);
    if (judged === 'expired') return result('timeout');
    return result(judged.status, judged.answers);
  }

  private judge(list: ListState, queryName: string, outcome: DnsOutcome<string[]>): { status: DnsListStatus; answers: string[] } {
    switch (outcome.kind) {
      case 'nxdomain':
        this.trust(list);
        return { status: 'not-listed', answers: [] };
      case 'error':
        return { status: 'error', answers: [] };
      case 'timeout':
        return { status: 'timeout', answers: [] };
      case 'answer': {
        const status = judgeAnswers(outcome.values, list.spec.filters);
        if (status === 'listed' || status === 'not-listed') this.trust(list);
        else this.distrust(list, queryName, status, outcome.values);
        return { status, answers: outcome.values };
      }
    }
  }

  private trust(list: ListState): void {
    list.wrongNames.clear();
    list.disabledUntil = 0;
    if (!list.distrusted) return;
    list.distrusted = false;
    this.onEvent({ kind: 're-enabled', name: list.spec.name, zone: list.zone, reason: 'the list answered correctly again' });
  }

  /**
   * Counts a wrong answer and disables the list at the threshold. A list disabled before and not
   * yet re-enabled by a correct answer is disabled again at its first wrong answer after the pause.
   */
  private distrust(list: ListState, queryName: string, status: 'list-error' | 'rewritten', answers: readonly string[]): void {
    const now = this.now();
    // Late answers to queries sent before the list was disabled must not disable it a second time.
    if (list.disabledUntil > now) return;
    list.wrongNames.add(queryName);
    if (!list.distrusted && list.wrongNames.size < this.disableAfter) return;
    const reason = wrongAnswerReason(status, answers, list.distrusted ? 'again after its pause' : `for ${list.wrongNames.size} names in a row`);
    list.wrongNames.clear();
    list.disabledUntil = now + this.disableForMs;
    list.distrusted = true;
    list.reason = reason;
    this.onEvent({ kind: 'disabled', name: list.spec.name, zone: list.zone, reason, forMs: this.disableForMs });
  }
}

function wrongAnswerReason(status: 'list-error' | 'rewritten', answers: readonly string[], how: string): string {
  if (status === 'rewritten') {
    return `answers outside 127.0.0.0/8 ${how} (last ${answers.join(', ')}): the resolver rewrites NXDOMAIN; use one that does not`;
  }
  const code = answers.find(isListError) ?? '';
  const meaning = LIST_ERROR_CODES[code] ?? 'the list reports an error with the query';
  return `list error answers ${how} (last ${code}: ${meaning})`;
}
