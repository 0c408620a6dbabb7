// Gathers every recipient's replayed answer into the report: totals, who would have been slowed
// down or refused (clients, networks, senders) and when, the rules behind it, the busiest minute.
import { networkOf } from '../net/normalise';
import { REPLAY_ANSWERS, type RecipientOutcome, type ReplayAnswer } from './session-runner';

export type AnswerCounts = Record<ReplayAnswer, number>;

export interface OffenderRow {
  key: string;
  first: number;
  last: number;
  counts: AnswerCounts;
}

export interface ReplayInput {
  files: string[];
  lines: number;
  /** Lines that fed a session. */
  used: number;
  /** Lines of Postfix or Sendmail that say nothing a replay needs (cleanup's message-id, TLS...). */
  ignored: number;
  /** Lines that could not be used, by kind: never fatal. */
  skipped: Record<string, number>;
}

export interface ReplayReport {
  input: ReplayInput;
  first?: number;
  last?: number;
  sessions: number;
  recipients: number;
  answers: AnswerCounts;
  /** Each table: the keys with a delay or refusal, most refused first (at most TABLE_ROWS). */
  clients: OffenderRow[];
  networks: OffenderRow[];
  senders: OffenderRow[];
  rules: Array<{ rule: string; counts: AnswerCounts }>;
  /** The minute with the most delays and refusals (else the most recipients). */
  peakMinute?: { minute: number; counts: AnswerCounts };
  /** Answers per minute, oldest first: the HTML page's chart. */
  timeline: Array<{ minute: number; counts: AnswerCounts }>;
}

export const TABLE_ROWS = 100;
const NOT_ACCEPTED: ReadonlySet<ReplayAnswer> = new Set(['delayed', 'tempfail', 'reject', 'discard']);

export function emptyCounts(): AnswerCounts {
  return { accepted: 0, delayed: 0, tempfail: 0, reject: 0, discard: 0, rejected_by_mta: 0 };
}

export class ReportBuilder {
  private sessions = 0;
  private recipients = 0;
  private first: number | undefined;
  private last: number | undefined;
  private readonly answers = emptyCounts();
  private readonly clients = new Map<string, OffenderRow>();
  private readonly networks = new Map<string, OffenderRow>();
  private readonly senders = new Map<string, OffenderRow>();
  private readonly rules = new Map<string, AnswerCounts>();
  private readonly minutes = new Map<number, AnswerCounts>();

  session(outcomes: readonly RecipientOutcome[]): void {
    this.sessions += 1;
    for (const o of outcomes) this.outcome(o);
  }

  private outcome(o: RecipientOutcome): void {
    if (o.recipient !== undefined) this.recipients += 1;
    if (this.first === undefined || o.time < this.first) this.first = o.time;
    if (this.last === undefined || o.time > this.last) this.last = o.time;
    // A message refused before any recipient counts once, like a recipient.
    this.answers[o.answer] += 1;
    const minute = Math.floor(o.time / 60_000) * 60_000;
    let perMinute = this.minutes.get(minute);
    if (!perMinute) this.minutes.set(minute, (perMinute = emptyCounts()));
    perMinute[o.answer] += 1;
    if (!NOT_ACCEPTED.has(o.answer)) return;
    if (o.clientIp) {
      count(this.clients, o.clientIp, o);
      const network = networkOf(o.clientIp, 24, 64);
      if (network) count(this.networks, network, o);
    }
    if (o.sender !== undefined) count(this.senders, o.sender === '' ? '<>' : o.sender, o);
    for (const rule of o.rules) {
      let counts = this.rules.get(rule);
      if (!counts) this.rules.set(rule, (counts = emptyCounts()));
      counts[o.answer] += 1;
    }
  }

  build(input: ReplayInput): ReplayReport {
    const timeline = [...this.minutes].sort((a, b) => a[0] - b[0]).map(([minute, counts]) => ({ minute, counts }));
    let peak: ReplayReport['peakMinute'];
    for (const row of timeline) if (!peak || weight(row.counts) > weight(peak.counts)) peak = row;
    return {
      input,
      ...(this.first === undefined ? {} : { first: this.first, last: this.last }),
      sessions: this.sessions,
      recipients: this.recipients,
      answers: this.answers,
      clients: table(this.clients),
      networks: table(this.networks),
      senders: table(this.senders),
      rules: [...this.rules].map(([rule, counts]) => ({ rule, counts })).sort((a, b) => refused(b.counts) - refused(a.counts)),
      ...(peak ? { peakMinute: peak } : {}),
      timeline,
    };
  }
}

function count(map: Map<string, OffenderRow>, key: string, o: RecipientOutcome): void {
  let row = map.get(key);
  if (!row) map.set(key, (row = { key, first: o.time, last: o.time, counts: emptyCounts() }));
  row.counts[o.answer] += 1;
  if (o.time < row.first) row.first = o.time;
  if (o.time > row.last) row.last = o.time;
}

function refused(c: AnswerCounts): number {
  return c.delayed + c.tempfail + c.reject + c.discard;
}

/** Refusals weigh more than any number of accepted recipients: the peak minute is the worst one. */
function weight(c: AnswerCounts): number {
  return refused(c) * 1e9 + REPLAY_ANSWERS.reduce((sum, a) => sum + c[a], 0);
}

function table(map: Map<string, OffenderRow>): OffenderRow[] {
  return [...map.values()].sort((a, b) => refused(b.counts) - refused(a.counts) || a.first - b.first).slice(0, TABLE_ROWS);
}
