// Tracking records to and from the PostgreSQL tables: a batch as JSON and the one statement that writes it, and the record back from its rows.
import { normaliseIp } from '../net/normalise';
import { checkRecord, withoutNul } from './record-check';
import type { TrackedAnswer, TrackedKey, TrackedRecipient, TrackingRecord } from './tracking-record';

export interface PgQuery {
  text: string;
  values: unknown[];
}

export type PgRow = Record<string, unknown>;

/**
 * The records of a batch as JSON objects, each the record as it is (its own field names), joined by
 * commas: the elements of the JSON array INSERT_BATCH takes. A batch of 500 as ~11,000 bound values,
 * Date objects and array literals was built by node-postgres on the event loop all at once at each
 * flush; JSON.stringify of 50 records as they arrive costs it ~10 µs a record, and the server reads
 * the whole batch from one parameter (the milter's CPU a session in the bench: 563 against 669
 * µs). NUL becomes U+FFFD: PostgreSQL's text and jsonb cannot hold it. RangeError, before anything
 * is sent, for a record no store could hold.
 */
export function recordsJson(records: readonly TrackingRecord[]): string {
  const canonical = records.map(withCanonicalIp);
  const json = JSON.stringify(canonical);
  // JSON writes NUL as \u0000: one search of the batch instead of a walk of every record.
  return (json.includes('\\u0000') ? JSON.stringify(canonical.map(withoutNul)) : json).slice(1, -1);
}

/** The record checked (checkRecord), its client IP in the form find looks for: an IPv4-mapped address as IPv4, IPv6 compressed. */
function withCanonicalIp(record: TrackingRecord): TrackingRecord {
  const ip = checkRecord(record).canonicalIp;
  return ip === record.clientIp ? record : { ...record, clientIp: ip };
}

/** A record's time, milliseconds since the epoch in the batch, as timestamptz; exact to the millisecond. */
const TIME = `'epoch'::timestamptz + b."time" * interval '1 millisecond'`;

/**
 * One statement that writes a batch: $1 is the JSON array of its records (recordsJson). The records'
 * ids come from the sequence in the first CTE, which PostgreSQL materialises once (it calls nextval),
 * so the recipients and rules carry their record's id. Unknown fields are ignored, absent ones NULL.
 * ON CONFLICT: a record's rules are meant to be without repeats; a repeat must not fail the whole batch.
 */
export const INSERT_BATCH = `
  WITH b AS (
    SELECT nextval(pg_get_serial_sequence('tracking_records', 'id')) AS id, r.*
    FROM json_to_recordset($1::json) AS r(
      "time" bigint, "mtaHost" text, daemon text, session text, "queueId" text, "clientIp" inet, "clientName" text,
      "reverseDns" text, helo text, "authUser" text, sender text, answer text, stage text, "delayMs" integer,
      rules text[], keys jsonb, "dnsLists" text[], size bigint, "messageId" text, subject text, attachments text[], recipients json)
  ), records AS (
    INSERT INTO tracking_records (id, time, mta_host, daemon, session, queue_id, client_ip, client_name, reverse_dns, helo,
      auth_user, sender, answer, stage, delay_ms, rules, keys, dns_lists, size, message_id, subject, attachments)
    SELECT b.id, ${TIME}, "mtaHost", daemon, session, "queueId", "clientIp", "clientName", "reverseDns", helo,
      "authUser", sender, answer, stage, "delayMs", rules, keys, "dnsLists", size, "messageId", subject, attachments
    FROM b
  ), recipients AS (
    INSERT INTO tracking_recipients (record_id, position, address, answer, reply, time)
    SELECT b.id, x.n - 1, x.address, x.answer, x.reply, ${TIME}
    FROM b, ROWS FROM (json_to_recordset(b.recipients) AS (address text, answer text, reply text)) WITH ORDINALITY AS x(address, answer, reply, n)
  )
  INSERT INTO tracking_rules (record_id, rule, time)
  SELECT b.id, rule, ${TIME} FROM b, unnest(b.rules) AS rule
  ON CONFLICT DO NOTHING`;

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
