// Tracking records to and from the SQLite records table's rows: the columns find filters on, and the rest as one JSON object.
import { canonicalIpKey, ipFromKey } from './ip-key';
import { checkRecord } from './record-check';
import type { TrackedAnswer, TrackingRecord } from './tracking-record';

/** What SQLite stores; blobs come back as ArrayBuffer from libsql, Uint8Array from others. */
export type SqlValue = string | number | Uint8Array | null;
export type SqlRow = Record<string, unknown>;

/** The records table's columns that a record fills (schema version 2); `detail` holds everything else. */
export const RECORD_COLUMNS = ['time', 'queue_id', 'client_ip', 'sender', 'answer', 'detail'] as const;

/** What a record keeps in its detail column: every field but the id and the columns of their own. */
type RecordDetail = Omit<TrackingRecord, 'id' | 'time' | 'queueId' | 'clientIp' | 'sender' | 'answer'>;

/**
 * The records columns' values in RECORD_COLUMNS order: client_ip is its key in hex (the insert turns
 * it back into bytes with unhex), detail the record's other fields as JSON text, without those that
 * are undefined. RangeError for a record no store could hold (checkRecord).
 */
export function recordValues(record: TrackingRecord): (string | number | null)[] {
  const { canonicalIp } = checkRecord(record);
  // Named one by one: a field this file does not know is not stored by accident.
  const detail: RecordDetail = {
    mtaHost: record.mtaHost, daemon: record.daemon, session: record.session, clientName: record.clientName,
    reverseDns: record.reverseDns, helo: record.helo, authUser: record.authUser, recipients: record.recipients,
    stage: record.stage, delayMs: record.delayMs, rules: record.rules, keys: record.keys, dnsLists: record.dnsLists,
    size: record.size, messageId: record.messageId, subject: record.subject, attachments: record.attachments,
  };
  return [
    record.time, record.queueId ?? null,
    canonicalIp === undefined ? null : canonicalIpKey(canonicalIp).toString('hex'),
    record.sender ?? null, record.answer, JSON.stringify(detail),
  ];
}

/** A records row (SELECT *) as the record that was written. */
export function recordFromRow(row: SqlRow): TrackingRecord {
  const detail = JSON.parse(row.detail as string) as RecordDetail;
  const record: TrackingRecord = { id: row.id as number, time: row.time as number, ...detail, answer: row.answer as TrackedAnswer };
  if (row.queue_id != null) record.queueId = row.queue_id as string;
  if (row.client_ip != null) record.clientIp = ipFromKey(bytes(row.client_ip));
  if (row.sender != null) record.sender = row.sender as string;
  return record;
}

function bytes(value: unknown): Uint8Array {
  return value instanceof ArrayBuffer ? new Uint8Array(value) : (value as Uint8Array);
}
