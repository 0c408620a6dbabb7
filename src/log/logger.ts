// Winston logger set-up: one structured line per event, JSON for collectors or text for people.
import winston from 'winston';
import { isJournalStream, journalPrefix } from './journal-stream';
import { textLine } from './text-line';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'json' | 'text' | 'auto';
export type Logger = winston.Logger;

/** Where winston's formats leave the finished line (triple-beam's MESSAGE, a registered symbol). */
const MESSAGE = Symbol.for('message');

const text = winston.format.printf(({ timestamp, level, message, ...fields }) => textLine(String(timestamp), level, String(message), fields));

/** sd-daemon(3): journald takes a leading `<N>` as the line's priority and strips it. */
const journalPriority = winston.format((info) => {
  info[MESSAGE] = `${journalPrefix(info.level)}${String(info[MESSAGE])}`;
  return info;
});

/**
 * `auto`: text on a terminal, where a person reads it; JSON anywhere else, where a program does.
 * `journal`: prefix each line with its syslog priority; by default, when the stream is stderr and
 * stderr is the journal stream systemd set up, never otherwise.
 */
export function createLogger(
  level: LogLevel,
  format: LogFormat,
  stream: NodeJS.WritableStream = process.stderr,
  journal = stream === process.stderr && isJournalStream(2),
): Logger {
  const asText = format === 'text' || (format === 'auto' && (stream as { isTTY?: boolean }).isTTY === true);
  const line = winston.format.combine(winston.format.timestamp(), asText ? text : winston.format.json(), ...(journal ? [journalPriority()] : []));
  return winston.createLogger({ level, format: line, transports: [new winston.transports.Stream({ stream })] });
}
