// `floodgate track`: finds tracking records by sender, recipient, client address or network, queue
// id, answer, rule and time, newest first, one line each; `track show ID` prints one in full.
import type { TrackingRecord } from '../tracking/tracking-record';

export const TRACK_USAGE = `Usage: floodgate track [--from ADDR] [--to ADDR] [--ip IP|CIDR] [--queue-id ID] [--answer A]
                       [--rule NAME] [--since 1d|2026-12-05T14:00] [--until ...] [--limit 50] [--json]
       floodgate track show ID`;

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
