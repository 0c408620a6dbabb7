// The filter a person writes (floodgate track's options, the viewer's query string) as a TrackingFilter:
// durations back from now or dates, an address or a network, an answer kind, a limit.
import { DURATION_PATTERN, durationMs } from '../config/duration';
import { parseCidr } from '../net/cidr';
import type { TrackedAnswer, TrackingFilter } from './tracking-record';

export const TRACKED_ANSWERS: readonly TrackedAnswer[] = ['accepted', 'delayed', 'tempfail', 'reject', 'discard', 'quit'];

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
  if (options.answer !== undefined && !TRACKED_ANSWERS.includes(options.answer as TrackedAnswer)) return `--answer must be one of ${TRACKED_ANSWERS.join(', ')}`;
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
export function pointInTime(text: string, now: number): number {
  if (new RegExp(DURATION_PATTERN).test(text)) return now - durationMs(text);
  if (!/^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?$/.test(text)) return NaN;
  return Date.parse(text.replace(' ', 'T'));
}

/** Addresses are stored bare and in lower case: `<A@Example.org>` finds a@example.org. */
function bare(address: string): string {
  return address.replace(/^<(.*)>$/, '$1').toLowerCase();
}
