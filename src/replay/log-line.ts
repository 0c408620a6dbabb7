// One mail-log line split into time, host, program, PID and message: a syslog line (with or
// without the host, as glibc writes to /dev/log), or one entry of a `journalctl -o json` export.
import type { StampReader } from './log-stamp';

export interface LogLine {
  time: number;
  host: string;
  /** `postfix/smtpd`, `postfix-out/qmgr`, `sendmail`, `sm-mta`... */
  program: string;
  pid: string;
  message: string;
}

/** Why a line could not be used: the report counts each kind. */
export type SkipReason = 'no_timestamp' | 'not_syslog' | 'bad_journal_entry' | 'too_long' | 'binary';

/** The line's parts, or the reason it has none. */
export function parseLogLine(text: string, stamps: StampReader): LogLine | SkipReason {
  if (text.charCodeAt(0) === 123 /* { */) return journalEntry(text);
  if (text.includes('\u0000')) return 'binary';
  const stamp = stamps.read(text);
  if (!stamp) return 'no_timestamp';
  // After the stamp: "host program[pid]: message", or "program[pid]: message" without a host.
  let at = stamp.rest;
  let space = text.indexOf(' ', at);
  if (space === -1) return 'not_syslog';
  let host = '';
  if (text.charCodeAt(space - 1) !== 58 /* : */) {
    host = text.slice(at, space);
    at = space + 1;
    space = text.indexOf(' ', at);
    if (space === -1) return 'not_syslog';
  }
  const tag = text.slice(at, space - 1); // without the colon
  if (text.charCodeAt(space - 1) !== 58) return 'not_syslog';
  const bracket = tag.indexOf('[');
  const program = bracket === -1 ? tag : tag.slice(0, bracket);
  const pid = bracket === -1 ? '' : tag.slice(bracket + 1, tag.length - 1);
  return { time: stamp.time, host, program, pid, message: text.slice(space + 1) };
}

interface JournalEntry {
  MESSAGE?: unknown;
  __REALTIME_TIMESTAMP?: unknown;
  SYSLOG_IDENTIFIER?: unknown;
  SYSLOG_PID?: unknown;
  _PID?: unknown;
  _HOSTNAME?: unknown;
}

/** journalctl writes a message that is not valid UTF-8 as an array of bytes. */
function journalText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((b) => typeof b === 'number')) return Buffer.from(value as number[]).toString('utf8');
  return undefined;
}

function journalEntry(text: string): LogLine | SkipReason {
  let entry: JournalEntry;
  try {
    entry = JSON.parse(text) as JournalEntry;
  } catch {
    return 'bad_journal_entry';
  }
  if (typeof entry !== 'object' || entry === null) return 'bad_journal_entry';
  const message = journalText(entry.MESSAGE);
  const program = journalText(entry.SYSLOG_IDENTIFIER);
  // Microseconds since the epoch, as a decimal string.
  const micros = typeof entry.__REALTIME_TIMESTAMP === 'string' ? Number(entry.__REALTIME_TIMESTAMP) : NaN;
  if (message === undefined || program === undefined || !Number.isFinite(micros)) return 'bad_journal_entry';
  const pid = journalText(entry.SYSLOG_PID) ?? journalText(entry._PID) ?? '';
  return { time: Math.floor(micros / 1000), host: journalText(entry._HOSTNAME) ?? '', program, pid, message };
}
