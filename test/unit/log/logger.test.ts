// The logger: auto/json/text formats, the journal's priority prefix only on the journal, one line per event.
import { fstatSync } from 'node:fs';
import { Writable } from 'node:stream';
import { createLogger, type LogFormat } from '../../../src/log/logger';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function sink(isTTY: boolean): { stream: Writable; lines: () => string[] } {
  let written = '';
  const stream = Object.assign(new Writable({ write: (chunk, _encoding, done) => ((written += String(chunk)), done()) }), { isTTY });
  return { stream, lines: () => written.split('\n').slice(0, -1) };
}

function logged(format: LogFormat, isTTY: boolean, journal?: boolean): string[] {
  const { stream, lines } = sink(isTTY);
  const logger = createLogger('debug', format, stream, journal);
  logger.info('answer', { answer: 'reject', client: '192.0.2.9', helo: 'pc\n answer=ok client=1.2.3.4' });
  logger.debug('decision', { conn: 'c1' });
  logger.warn('dns list', { list: 'zen' });
  logger.error('handler error', { code: 'FG_ERR_HANDLER' });
  return lines();
}

test('auto: text on a terminal, JSON elsewhere', () => {
  expect(logged('auto', true)[0]).toMatch(/^\S+ info answer answer=reject client=192\.0\.2\.9 helo="pc\\n answer=ok client=1\.2\.3\.4"$/);
  expect(JSON.parse(logged('auto', false)[0])).toMatchObject({ level: 'info', message: 'answer', answer: 'reject', client: '192.0.2.9' });
});

test('text starts with an ISO-8601 time and the level; a hostile HELO stays on its line', () => {
  const lines = logged('text', false);
  expect(lines).toHaveLength(4);
  const [time, level] = lines[0].split(' ');
  expect(time).toMatch(ISO);
  expect(level).toBe('info');
  expect(lines.map((l) => l.split(' ')[1])).toEqual(['info', 'debug', 'warn', 'error']);
});

test('json: one object per line with its timestamp; the HELO line break is escaped', () => {
  const lines = logged('json', true);
  expect(lines).toHaveLength(4);
  const answer = JSON.parse(lines[0]) as Record<string, unknown>;
  expect(answer.timestamp).toMatch(ISO);
  expect(answer.helo).toBe('pc\n answer=ok client=1.2.3.4');
});

test('the answer line begins with answer and client, the anchor of the shipped fail2ban filter', () => {
  // winston's JSON format sorts keys (safe-stable-stringify): answer and client come first of all.
  expect(logged('json', false)[0]).toMatch(/^\{"answer":"reject","client":"192\.0\.2\.9",/);
});

test('on the journal every line starts with its syslog priority, in both formats', () => {
  for (const format of ['json', 'text'] as const) {
    expect(logged(format, false, true).map((l) => l.slice(0, 3))).toEqual(['<6>', '<7>', '<4>', '<3>']);
    expect(logged(format, false, false).some((l) => l.startsWith('<'))).toBe(false);
  }
});

describe('by default, on stderr', () => {
  const saved = process.env.JOURNAL_STREAM;
  afterEach(() => {
    if (saved === undefined) delete process.env.JOURNAL_STREAM;
    else process.env.JOURNAL_STREAM = saved;
    jest.restoreAllMocks();
  });

  function stderrLine(): string {
    let written = '';
    jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((written += String(chunk)), true));
    createLogger('info', 'json').warn('dns list', { list: 'zen' });
    return written;
  }

  test('the prefix appears when stderr is the stream JOURNAL_STREAM names', () => {
    const stat = fstatSync(2, { bigint: true });
    process.env.JOURNAL_STREAM = `${stat.dev}:${stat.ino}`;
    expect(stderrLine()).toMatch(/^<4>\{/);
  });

  test('and not when JOURNAL_STREAM names another stream (inherited by a redirected child)', () => {
    const stat = fstatSync(2, { bigint: true });
    process.env.JOURNAL_STREAM = `${stat.dev}:${stat.ino + 1n}`;
    expect(stderrLine()).toMatch(/^\{/);
  });
});
