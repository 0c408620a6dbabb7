// `floodgate track`: finds tracking records by sender, recipient, client address or network, queue
// id, answer, rule and time, newest first, one line each; `track show ID` prints one in full.
import { DURATION_PATTERN, durationMs } from '../config/duration';
import { parseCidr } from '../net/cidr';
import type { TrackedAnswer, TrackingFilter, TrackingRecord } from '../tracking/tracking-record';

export const TRACK_USAGE = `Usage: floodgate track [--from ADDR] [--to ADDR] [--ip IP|CIDR] [--queue-id ID] [--answer A]
                       [--rule NAME] [--since 1d|2026-12-05T14:00] [--until ...] [--limit 50] [--json]
       floodgate track show ID`;

const ANSWERS: readonly TrackedAnswer[] = ['accepted', 'delayed', 'tempfail', 'reject', 'discard', 'quit'];

export interface TrackOptions {
  from?: string;
  to?: string;
  ip?: string;
  'queue-id'?: string;
  answer?: string;
  rule?: string;
  since?: string;
  until?: string;
  limit?: string;
}

/** The filter the options ask for, or the reason they are unusable (a usage error). */
export function trackFilter(options: TrackOptions, now: number): TrackingFilter | string {
  const limit = options.limit === undefined ? 50 : Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) return '--limit must be 1 to 10000';
  if (options.ip !== undefined && typeof parseCidr(options.ip) === 'string') return `--ip ${options.ip}: not an address or a network (192.0.2.0/24, 2001:db8::/32)`;
  if (options.answer !== undefined && !ANSWERS.includes(options.answer as TrackedAnswer)) return `--answer must be one of ${ANSWERS.join(', ')}`;
  const since = options.since === undefined ? undefined : pointInTime(options.since, now);
  const until = options.until === undefined ? undefined : pointInTime(options.until, now);
  if (Number.isNaN(since) || Number.isNaN(until)) return '--since and --until take a duration back from now (90m, 1d) or a date and time (2026-12-05T14:02)';
  return {
    limit,
    ...(options.from !== undefined ? { from: bare(options.from) } : {}),
    ...(options.to !== undefined ? { to: bare(options.to) } : {}),
    ...(options.ip !== undefined ? { ip: options.ip } : {}),
    ...(options['queue-id'] !== undefined ? { queueId: options['queue-id'] } : {}),
    ...(options.answer !== undefined ? { answer: options.answer as TrackedAnswer } : {}),
    ...(options.rule !== undefined ? { rule: options.rule } : {}),
    ...(since !== undefined ? { since } : {}),
    ...(until !== undefined ? { until } : {}),
  };
}

/** `1d` is a day before now; anything else must be a date (local time unless it says Z or an offset). */
function pointInTime(text: string, now: number): number {
  if (new RegExp(DURATION_PATTERN).test(text)) return now - durationMs(text);
  if (!/^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?$/.test(text)) return NaN;
  return Date.parse(text.replace(' ', 'T'));
}

/** Addresses are stored bare and in lower case: `<A@Example.org>` finds a@example.org. */
function bare(address: string): string {
  return address.replace(/^<(.*)>$/, '$1').toLowerCase();
}

/** One line per record: time, id, queue id, answer, client, sender, recipients, rules. */
export function renderRecords(records: readonly TrackingRecord[]): string {
  if (records.length === 0) return 'no records\n';
  const lines = records.map((r) => {
    const rcpts = r.recipients.map((x) => (x.answer === 'accepted' ? x.address : `${x.address}(${x.answer})`)).join(',') || '-';
    return [
      new Date(r.time).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      String(r.id ?? '-').padStart(8),
      (r.queueId ?? '-').padEnd(12),
      `${r.answer}${r.answer === 'delayed' || r.delayMs > 0 ? `(${Math.round(r.delayMs)}ms)` : ''}@${r.stage}`.padEnd(18),
      (r.clientIp ?? '-').padEnd(15),
      `<${r.sender ?? ''}>`,
      '->',
      rcpts,
      r.rules.length > 0 ? `[${r.rules.join(',')}]` : '',
    ].join(' ').trimEnd();
  });
  return `${lines.join('\n')}\n`;
}

/** Every field of one record, one per line. */
export function renderRecord(r: TrackingRecord): string {
  const field = (name: string, value: unknown) => (value === undefined || (Array.isArray(value) && value.length === 0) ? [] : [`${`${name}:`.padEnd(14)}${typeof value === 'string' ? value : JSON.stringify(value)}`]);
  return `${[
    ...field('id', String(r.id ?? '')),
    ...field('time', new Date(r.time).toISOString()),
    ...field('answer', `${r.answer} at ${r.stage}${r.delayMs > 0 ? `, ${Math.round(r.delayMs)} ms of delay` : ''}`),
    ...field('queue id', r.queueId),
    ...field('mta', [r.mtaHost, r.daemon].filter(Boolean).join(' ') || undefined),
    ...field('session', r.session),
    ...field('client', [r.clientIp, r.clientName ? `(${r.clientName})` : undefined].filter(Boolean).join(' ') || undefined),
    ...field('reverse dns', r.reverseDns),
    ...field('helo', r.helo),
    ...field('auth user', r.authUser),
    ...field('from', r.sender === undefined ? undefined : `<${r.sender}>`),
    ...r.recipients.map((x) => `${'to:'.padEnd(14)}<${x.address}> ${x.answer}${x.reply ? `: ${x.reply}` : ''}`),
    ...field('rules', r.rules.join(', ') || undefined),
    ...r.keys.map((k) => `${'key:'.padEnd(14)}${k.key} = ${k.score}`),
    ...field('dns lists', r.dnsLists.join(', ') || undefined),
    ...field('size', r.size === undefined ? undefined : `${r.size} bytes`),
    ...field('message-id', r.messageId),
    ...field('subject', r.subject),
    ...field('attachments', r.attachments),
  ].join('\n')}\n`;
}
