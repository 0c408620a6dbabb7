// `floodgate replay --tracking`: Floodgate's own record of what it answered, run through other
// rules, and every recipient whose answer would change, grouped by change (accepted -> tempfail...).
import type { RuleSet } from '../rules/rule-set';
import type { TrackingRecord, TrackingStore } from '../tracking/tracking-record';
import type { ReplaySession } from './mail-events';
import { ReportBuilder, type ReplayReport } from './replay-report';
import { SessionRunner, type FactEnricher } from './session-runner';

/** Records of one connection id on one MTA host this close together were one SMTP session. */
const SAME_SESSION_MS = 10 * 60_000;
/** Sessions listed under each change: enough to look at, not the whole flood. */
const EXAMPLES_PER_CHANGE = 20;
/** The most records one replay reads: about 700 MB of records in memory at most. */
export const MAX_TRACKING_RECORDS = 1_000_000;

export interface AnswerChange {
  /** The recorded answer, then the replayed one: `accepted -> tempfail`. */
  from: string;
  to: string;
  count: number;
  /** Tracking record ids (for `floodgate track show ID`) with the recipient, the first few. */
  examples: Array<{ id?: number; time: number; clientIp?: string; sender?: string; recipient?: string }>;
}

export interface TrackingReplayReport extends ReplayReport {
  records: number;
  unchanged: number;
  changes: AnswerChange[];
}

export async function replayTracking(store: TrackingStore, ruleSet: RuleSet, since: number | undefined, until: number | undefined, enrich?: FactEnricher): Promise<TrackingReplayReport> {
  const records = (await store.find({ limit: MAX_TRACKING_RECORDS, ...(since !== undefined ? { since } : {}), ...(until !== undefined ? { until } : {}) })).reverse();
  const runner = new SessionRunner(ruleSet, enrich);
  const report = new ReportBuilder();
  const changes = new Map<string, AnswerChange>();
  let unchanged = 0;
  for (const { session, records: group } of sessionsOf(records)) {
    const outcomes = await runner.run(session);
    report.session(outcomes);
    // runner.run gives the recipients in message order, and one outcome for a message with none.
    let i = 0;
    for (const record of group) {
      const recorded = record.recipients.length > 0 ? record.recipients.map((r) => ({ answer: r.answer as string, recipient: r.address })) : [{ answer: record.answer as string, recipient: undefined }];
      for (const live of recorded) {
        const replayed = outcomes[i++];
        if (!replayed) continue;
        const liveAnswer = live.answer === 'quit' ? 'accepted' : live.answer;
        if (liveAnswer === replayed.answer) {
          unchanged += 1;
          continue;
        }
        const key = `${liveAnswer} -> ${replayed.answer}`;
        let change = changes.get(key);
        if (!change) changes.set(key, (change = { from: liveAnswer, to: replayed.answer, count: 0, examples: [] }));
        change.count += 1;
        if (change.examples.length < EXAMPLES_PER_CHANGE) {
          change.examples.push({ ...(record.id !== undefined ? { id: record.id } : {}), time: record.time, ...(record.clientIp ? { clientIp: record.clientIp } : {}), ...(record.sender !== undefined ? { sender: record.sender } : {}), ...(live.recipient !== undefined ? { recipient: live.recipient } : {}) });
        }
      }
    }
  }
  return {
    ...report.build({ files: [], lines: 0, used: records.length, ignored: 0, skipped: {} }),
    records: records.length,
    unchanged,
    changes: [...changes.values()].sort((a, b) => b.count - a.count),
  };
}

/** Records (oldest first) grouped into the sessions they came from, each session's messages in order. */
function sessionsOf(records: readonly TrackingRecord[]): Array<{ session: ReplaySession; records: TrackingRecord[] }> {
  const sessions: Array<{ session: ReplaySession; records: TrackingRecord[]; last: number }> = [];
  const current = new Map<string, (typeof sessions)[number]>();
  for (const record of records) {
    const key = `${record.mtaHost ?? ''}|${record.session}`;
    let entry = current.get(key);
    if (!entry || record.time - entry.last > SAME_SESSION_MS || entry.session.clientIp !== record.clientIp) {
      entry = {
        session: { time: record.time, messages: [], ...defined({ clientIp: record.clientIp, clientName: record.clientName, helo: record.helo, authUser: record.authUser }) },
        records: [],
        last: record.time,
      };
      current.set(key, entry);
      sessions.push(entry);
    }
    entry.last = record.time;
    entry.records.push(record);
    entry.session.messages.push({
      time: record.time,
      ...(record.sender !== undefined ? { sender: record.sender } : {}),
      ...(record.size !== undefined ? { size: record.size } : {}),
      recipients: record.recipients.map((r) => ({ address: r.address, time: record.time, rejectedByMta: false })),
    });
  }
  return sessions;
}

function defined<T extends Record<string, unknown>>(fields: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [name, value] of Object.entries(fields)) if (value !== undefined) (out as Record<string, unknown>)[name] = value;
  return out;
}
