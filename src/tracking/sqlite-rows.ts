// Tracking records to and from the SQLite tables' rows: the records columns' values, and the record back from its rows.
import { ipFromKey, ipKey } from './ip-key';
import { checkRecord } from './record-check';
import type { TrackedAnswer, TrackedKey, TrackedRecipient, TrackingRecord } from './tracking-record';

/** What SQLite stores; blobs come back as ArrayBuffer from libsql, Uint8Array from others. */
export type SqlValue = string | number | Uint8Array | null;
export type SqlRow = Record<string, unknown>;

export const RECORD_COLUMNS = [
  'time', 'mta_host', 'daemon', 'session', 'queue_id', 'client_ip', 'client_name', 'reverse_dns', 'helo', 'auth_user',
  'sender', 'answer', 'stage', 'delay_ms', 'rules', 'keys', 'dns_lists', 'size', 'message_id', 'subject', 'attachments',
] as const;

/** A column's value as the batch carries it: the lists stored as JSON text go as they are, and are bound as their JSON text. */
export type BatchValue = string | number | null | readonly unknown[];

/**
 * The records columns' values in RECORD_COLUMNS order, as JSON can carry them: client_ip is its key
 * in hex (the insert turns it back into bytes with unhex); rules, keys, DNS lists and attachments
 * are lists, which libsql-thread.js binds as JSON text. RangeError for a record no store could hold
 * (checkRecord).
 */
export function recordValues(record: TrackingRecord): BatchValue[] {
  checkRecord(record);
  return [
    record.time, record.mtaHost ?? null, record.daemon ?? null, record.session, record.queueId ?? null,
    record.clientIp === undefined ? null : (ipKey(record.clientIp) as Buffer).toString('hex'),
    record.clientName ?? null, record.reverseDns ?? null, record.helo ?? null, record.authUser ?? null, record.sender ?? null,
    record.answer, record.stage, record.delayMs, record.rules, record.keys,
    record.dnsLists, record.size ?? null, record.messageId ?? null, record.subject ?? null,
    record.attachments ?? null,
  ];
}

/** A records row (SELECT *) and its recipients rows (by position) as the record that was written. */
export function recordFromRows(row: SqlRow, recipientRows: readonly SqlRow[]): TrackingRecord {
  const record: TrackingRecord = {
    id: row.id as number,
    time: row.time as number,
    session: row.session as string,
    recipients: recipientRows.map(recipientFromRow),
    answer: row.answer as TrackedAnswer,
    stage: row.stage as TrackingRecord['stage'],
    delayMs: row.delay_ms as number,
    rules: JSON.parse(row.rules as string) as string[],
    keys: JSON.parse(row.keys as string) as TrackedKey[],
    dnsLists: JSON.parse(row.dns_lists as string) as string[],
  };
  const optional: Partial<TrackingRecord> = {
    mtaHost: text(row.mta_host),
    daemon: text(row.daemon),
    queueId: text(row.queue_id),
    clientIp: row.client_ip == null ? undefined : ipFromKey(bytes(row.client_ip)),
    clientName: text(row.client_name),
    reverseDns: text(row.reverse_dns),
    helo: text(row.helo),
    authUser: text(row.auth_user),
    sender: text(row.sender),
    size: row.size == null ? undefined : (row.size as number),
    messageId: text(row.message_id),
    subject: text(row.subject),
    attachments: row.attachments == null ? undefined : (JSON.parse(row.attachments as string) as string[]),
  };
  for (const [name, value] of Object.entries(optional)) if (value !== undefined) Object.assign(record, { [name]: value });
  return record;
}

function recipientFromRow(row: SqlRow): TrackedRecipient {
  const recipient: TrackedRecipient = { address: row.address as string, answer: row.answer as TrackedAnswer };
  if (row.reply != null) recipient.reply = row.reply as string;
  return recipient;
}

function text(value: unknown): string | undefined {
  return value == null ? undefined : (value as string);
}

function bytes(value: unknown): Uint8Array {
  return value instanceof ArrayBuffer ? new Uint8Array(value) : (value as Uint8Array);
}
