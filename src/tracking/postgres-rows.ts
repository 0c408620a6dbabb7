// Tracking records to and from the PostgreSQL tables: multi-row INSERTs for a batch, and the record back from its rows.
import { normaliseIp } from '../net/normalise';
import { withoutNul } from './record-check';
import type { TrackedAnswer, TrackedKey, TrackedRecipient, TrackingRecord } from './tracking-record';

export interface PgQuery {
  text: string;
  values: unknown[];
}

export type PgRow = Record<string, unknown>;

const RECORD_COLUMNS = [
  'id', 'time', 'mta_host', 'daemon', 'session', 'queue_id', 'client_ip', 'client_name', 'reverse_dns', 'helo', 'auth_user',
  'sender', 'answer', 'stage', 'delay_ms', 'rules', 'keys', 'dns_lists', 'size', 'message_id', 'subject', 'attachments',
];

/** PostgreSQL takes at most 65,535 parameters per statement: 22 columns times this stays well under. */
const ROWS_PER_INSERT = 1000;

/** INSERTs of `rows` (each a list of values) with numbered parameters, ROWS_PER_INSERT at a time. */
function multiRowInsert(head: string, rows: unknown[][], tail = ''): PgQuery[] {
  const queries: PgQuery[] = [];
  for (let start = 0; start < rows.length; start += ROWS_PER_INSERT) {
    const values: unknown[] = [];
    const tuples = rows.slice(start, start + ROWS_PER_INSERT).map((row) => `(${row.map((value) => `$${values.push(value)}`).join(', ')})`);
    queries.push({ text: `${head} VALUES ${tuples.join(', ')}${tail}`, values });
  }
  return queries;
}

/**
 * The INSERTs of a batch of checked records (checkRecord) whose ids are `ids`, taken from the sequence
 * first so that the children know their record's id without relying on the order of RETURNING.
 * Times go as Date (timestamptz), lists as arrays, keys as JSON.
 */
export function insertBatch(checked: readonly TrackingRecord[], ids: readonly number[]): PgQuery[] {
  const records = checked.map(withoutNul);
  const queries = multiRowInsert(`INSERT INTO tracking_records (${RECORD_COLUMNS.join(', ')})`, records.map((r, i) => [
      ids[i], new Date(r.time), r.mtaHost ?? null, r.daemon ?? null, r.session, r.queueId ?? null,
      r.clientIp === undefined ? null : normaliseIp(r.clientIp), r.clientName ?? null, r.reverseDns ?? null, r.helo ?? null,
      r.authUser ?? null, r.sender ?? null, r.answer, r.stage, r.delayMs, r.rules, JSON.stringify(r.keys), r.dnsLists,
      r.size ?? null, r.messageId ?? null, r.subject ?? null, r.attachments ?? null,
    ]));
  const recipients = records.flatMap((r, i) => r.recipients.map((x, position) => [ids[i], position, x.address, x.answer, x.reply ?? null, new Date(r.time)]));
  if (recipients.length > 0) queries.push(...multiRowInsert('INSERT INTO tracking_recipients (record_id, position, address, answer, reply, time)', recipients));
  const rules = records.flatMap((r, i) => r.rules.map((rule) => [ids[i], rule, new Date(r.time)]));
  // ON CONFLICT: a record's rules are meant to be without repeats; a repeat must not fail the whole batch.
  if (rules.length > 0) queries.push(...multiRowInsert('INSERT INTO tracking_rules (record_id, rule, time)', rules, ' ON CONFLICT DO NOTHING'));
  return queries;
}

/** A tracking_records row and its recipients rows (by position) as the record that was written. */
export function recordFromRows(row: PgRow, recipientRows: readonly PgRow[]): TrackingRecord {
  const record: TrackingRecord = {
    // bigint comes back as a string (it may pass 2^53); ids and sizes here never do.
    id: Number(row.id),
    time: (row.time as Date).getTime(),
    session: row.session as string,
    recipients: recipientRows.map(recipientFromRow),
    answer: row.answer as TrackedAnswer,
    stage: row.stage as TrackingRecord['stage'],
    delayMs: row.delay_ms as number,
    rules: row.rules as string[],
    keys: row.keys as TrackedKey[],
    dnsLists: row.dns_lists as string[],
  };
  const optional: Partial<TrackingRecord> = {
    mtaHost: text(row.mta_host),
    daemon: text(row.daemon),
    queueId: text(row.queue_id),
    // inet's own text; normaliseIp makes it the form the SQLite store and the logs write.
    clientIp: row.client_ip == null ? undefined : normaliseIp(row.client_ip as string),
    clientName: text(row.client_name),
    reverseDns: text(row.reverse_dns),
    helo: text(row.helo),
    authUser: text(row.auth_user),
    sender: text(row.sender),
    size: row.size == null ? undefined : Number(row.size),
    messageId: text(row.message_id),
    subject: text(row.subject),
    attachments: row.attachments == null ? undefined : (row.attachments as string[]),
  };
  for (const [name, value] of Object.entries(optional)) if (value !== undefined) Object.assign(record, { [name]: value });
  return record;
}

function recipientFromRow(row: PgRow): TrackedRecipient {
  const recipient: TrackedRecipient = { address: row.address as string, answer: row.answer as TrackedAnswer };
  if (row.reply != null) recipient.reply = row.reply as string;
  return recipient;
}

function text(value: unknown): string | undefined {
  return value == null ? undefined : (value as string);
}
