// Winston logger set-up: one structured line per event, JSON for collectors or text for journald.
import winston from 'winston';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type Logger = winston.Logger;

/** `auto`: text on a terminal, where a person reads it; JSON anywhere else, where a program does. */
export function createLogger(level: LogLevel, format: 'json' | 'text' | 'auto', stream: NodeJS.WritableStream = process.stderr): Logger {
  const json = format === 'json' || (format === 'auto' && (stream as { isTTY?: boolean }).isTTY !== true);
  const lineFormat =
    json
      ? winston.format.combine(winston.format.timestamp(), winston.format.json())
      : winston.format.printf(({ level: lvl, message, ...fields }) => {
          // journald adds its own timestamp; keep the line to level, message and key=value fields.
          const rest = Object.entries(fields)
            .filter(([k]) => typeof k === 'string')
            .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
            .join(' ');
          return `${lvl}: ${String(message)}${rest ? ` ${rest}` : ''}`;
        });
  return winston.createLogger({ level, format: lineFormat, transports: [new winston.transports.Stream({ stream })] });
}
