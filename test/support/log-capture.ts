// A logger for tests that keeps its lines, and a guard: a test fails on a warning or error line it did not expect.
//
// STYLE.md: "A test that logs an unexpected warning fails." Every logger made here is checked after
// its test: each line at warn or error must match one of the messages the test declared with
// expectWarnings(); anything else fails the test with the line, so a new warning is never silently
// accepted by a test that happened not to look.
import { Writable } from 'node:stream';
import { createLogger, type LogLevel, type Logger } from '../../src/log/logger';

export interface LogLine {
  level: string;
  message: string;
  [field: string]: unknown;
}

export interface LogCapture {
  logger: Logger;
  lines: LogLine[];
  /** Declares warn/error messages this test provokes on purpose (exact text or a pattern). */
  expectWarnings(...messages: Array<string | RegExp>): void;
}

const open: Array<{ lines: LogLine[]; expected: Array<string | RegExp> }> = [];

export function captureLog(level: LogLevel = 'info'): LogCapture {
  const lines: LogLine[] = [];
  const expected: Array<string | RegExp> = [];
  const stream = new Writable({
    write: (chunk, _encoding, done) => {
      lines.push(JSON.parse(String(chunk)) as LogLine);
      done();
    },
  });
  open.push({ lines, expected });
  return { logger: createLogger(level, 'json', stream), lines, expectWarnings: (...messages) => expected.push(...messages) };
}

afterEach(() => {
  const captures = open.splice(0);
  const unexpected = captures.flatMap(({ lines, expected }) =>
    lines.filter((l) => (l.level === 'warn' || l.level === 'error') && !expected.some((e) => (typeof e === 'string' ? l.message === e : e.test(l.message)))));
  if (unexpected.length > 0) {
    throw new Error(`unexpected warning or error logged:\n${unexpected.map((l) => JSON.stringify(l)).join('\n')}`);
  }
});
