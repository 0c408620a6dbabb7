// Tracking records from the SQLite records table's rows: the columns find filters on, and the rest
// of the record as one JSON object, the detail. The columns are what the record is read back as: the
// client IP in the canonical form its key holds.
import { ipFromKey } from './ip-key';
import type { TrackedAnswer, TrackingRecord } from './tracking-record';

/** What SQLite stores; blobs come back as ArrayBuffer from libsql, Uint8Array from others. */
export type SqlValue = string | number | Uint8Array | null;
export type SqlRow = Record<string, unknown>;

/** A records row (SELECT *) as the record that was written. */
export function recordFromRow(row: SqlRow): TrackingRecord {
  const detail = JSON.parse(row.detail as string) as Omit<TrackingRecord, 'id' | 'time' | 'queueId' | 'clientIp' | 'sender' | 'answer'>;
  const record: TrackingRecord = { id: row.id as number, time: row.time as number, ...detail, answer: row.answer as TrackedAnswer };
  if (row.queue_id != null) record.queueId = row.queue_id as string;
  if (row.client_ip != null) record.clientIp = ipFromKey(bytes(row.client_ip));
  if (row.sender != null) record.sender = row.sender as string;
  return record;
}

function bytes(value: unknown): Uint8Array {
  return value instanceof ArrayBuffer ? new Uint8Array(value) : (value as Uint8Array);
}
