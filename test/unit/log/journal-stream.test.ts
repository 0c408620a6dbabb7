// Recognising the journal stream (JOURNAL_STREAM against fd's device:inode) and the sd-daemon priority prefixes.
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isJournalStream, journalPrefix } from '../../../src/log/journal-stream';

const dir = mkdtempSync(join(tmpdir(), 'fg-journal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function devIno(fd: number): string {
  const stat = fstatSync(fd, { bigint: true });
  return `${stat.dev}:${stat.ino}`;
}

test('the fd whose device:inode JOURNAL_STREAM names is the journal; another fd is not', () => {
  const journal = openSync(join(dir, 'journal'), 'w');
  const other = openSync(join(dir, 'other'), 'w');
  try {
    const env = { JOURNAL_STREAM: devIno(journal) };
    expect(isJournalStream(journal, env)).toBe(true);
    // Inherited by a child whose stderr was redirected: the variable alone proves nothing.
    expect(isJournalStream(other, env)).toBe(false);
  } finally {
    closeSync(journal);
    closeSync(other);
  }
});

test('no JOURNAL_STREAM, a malformed one, or a closed fd: not the journal', () => {
  const fd = openSync(join(dir, 'closed'), 'w');
  const env = { JOURNAL_STREAM: devIno(fd) };
  expect(isJournalStream(fd, {})).toBe(false);
  expect(isJournalStream(fd, { JOURNAL_STREAM: `${env.JOURNAL_STREAM}x` })).toBe(false);
  expect(isJournalStream(fd, { JOURNAL_STREAM: '' })).toBe(false);
  closeSync(fd);
  expect(isJournalStream(fd, env)).toBe(false);
});

test('error, warn, info and debug map to syslog priorities 3, 4, 6 and 7', () => {
  expect(['error', 'warn', 'info', 'debug', 'verbose'].map(journalPrefix)).toEqual(['<3>', '<4>', '<6>', '<7>', '<7>']);
});
