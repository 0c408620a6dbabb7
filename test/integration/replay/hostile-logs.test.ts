// Hostile and awkward mail logs through `floodgate replay`: truncated lines, binary garbage, a 1 MB
// line, out-of-order stamps, a log spanning New Year, gzip rotations and a journalctl export. Bad
// lines are counted by kind and skipped; the report still comes out.
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { loadRuleSet } from '../../../src/rules/loader';
import { replayMailLogs } from '../../../src/replay/replay';
import type { ReplaySession } from '../../../src/replay/mail-events';
import { ReplayInputError } from '../../../src/replay/log-reader';

const dir = mkdtempSync(join(tmpdir(), 'fg-replay-hostile-'));
const rules = loadRuleSet(join(__dirname, '..', '..', '..', 'rules', 'default.yml'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One accepted message from `ip` as Postfix logs it, at `stamp` (syslog form, no year). */
function message(stamp: string, pid: number, qid: string, ip: string, rcpt: string): string[] {
  return [
    `${stamp} mx postfix/smtpd[${pid}]: connect from unknown[${ip}]`,
    `${stamp} mx postfix/smtpd[${pid}]: ${qid}: client=unknown[${ip}]`,
    `${stamp} mx postfix/cleanup[99]: ${qid}: message-id=<${qid}@example.org>`,
    `${stamp} mx postfix/qmgr[98]: ${qid}: from=<a@example.org>, size=100, nrcpt=1 (queue active)`,
    `${stamp} mx postfix/smtpd[${pid}]: disconnect from unknown[${ip}] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5`,
    `${stamp} mx postfix/smtp[97]: ${qid}: to=<${rcpt}>, relay=mx.example.com[192.0.2.200]:25, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 ok)`,
    `${stamp} mx postfix/qmgr[98]: ${qid}: removed`,
  ];
}

function file(name: string, content: string | Buffer, mtime = new Date('2027-01-02T12:00:00')): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  utimesSync(path, mtime, mtime);
  return path;
}

test('garbage, truncated, huge and out-of-order lines are counted and skipped; the sessions around them replay', async () => {
  const good = [...message('Dec 31 23:59:50', 10, 'AAA1', '192.0.2.1', 'x@example.com'), ...message('Jan  1 00:00:10', 11, 'AAA2', '192.0.2.2', 'y@example.com')];
  const lines = [
    good.slice(0, 7).join('\n'),
    'Dec 31 23:5', // truncated inside the stamp
    `Dec 31 23:59:55 mx postfix/smtpd[12]: connect from unknown[192.0.2.3]\u0000\u0001\u00ff`,
    'x'.repeat(1024 * 1024), // one line of 1 MB
    '\u00ff\u00fe\u0000garbage\u0000'.repeat(50),
    'Dec 31 23:59:59 mx', // no program
    '{"MESSAGE": "not a journal entry"',
    good.slice(7).join('\n'),
    // An hour back after midnight: out of order.
    'Dec 31 23:00:00 mx postfix/smtpd[13]: connect from unknown[192.0.2.4]',
    'Jan  1 00:00:20 mx kernel: something else entirely',
  ].join('\n');
  const sessions: ReplaySession[] = [];
  const report = await replayMailLogs({ files: [file('mail.log', lines)], ruleSet: rules, onSession: (s) => sessions.push(s) });
  // A line with a NUL in it is binary, whatever it starts with.
  expect(report.input.skipped).toEqual({ no_timestamp: 1, binary: 2, too_long: 1, not_syslog: 1, bad_journal_entry: 1, out_of_order: 1, other_program: 1 });
  expect(report.sessions).toBe(2);
  expect(report.answers.accepted).toBe(2);
  // Across New Year: December of the year before the file was written, then January of its year.
  const times = sessions.map((s) => new Date(s.time));
  expect(times.map((t) => [t.getFullYear(), t.getMonth() + 1, t.getDate()])).toEqual([[2026, 12, 31], [2027, 1, 1]]);
  expect(sessions.map((s) => s.messages.flatMap((m) => m.recipients.map((r) => r.address)))).toEqual([['x@example.com'], ['y@example.com']]);
});

test('a file of nothing but binary garbage gives an empty report, not an error', async () => {
  const garbage = Buffer.alloc(3 * 1024 * 1024);
  for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919) % 251;
  const report = await replayMailLogs({ files: [file('garbage.bin', garbage)], ruleSet: rules });
  expect(report.sessions).toBe(0);
  expect(report.input.lines).toBeGreaterThan(0);
  expect(report.input.used).toBe(0);
});

test('rotated and gzip-compressed files are read oldest first; RFC 3339 stamps and journalctl exports too', async () => {
  const older = gzipSync(message('Dec  5 10:00:00', 20, 'BBB1', '192.0.2.9', 'old@example.com').join('\n'));
  const newer = message('Dec  5 11:00:00', 21, 'BBB2', '192.0.2.9', 'new@example.com').map((l) => l.replace('Dec  5 11:00:00', '2026-12-05T11:00:00.123456+00:00'));
  const journal = message('Dec  5 12:00:00', 22, 'BBB3', '192.0.2.9', 'journal@example.com').map((l) => {
    const m = /^\S+ +\S+ \S+ \S+ ([^[]+)\[(\d+)\]: (.*)$/.exec(l)!;
    return JSON.stringify({ __REALTIME_TIMESTAMP: String(Date.parse('2026-12-05T12:00:00Z') * 1000), _HOSTNAME: 'mx', SYSLOG_IDENTIFIER: m[1], SYSLOG_PID: m[2], MESSAGE: [...Buffer.from(m[3]!)] });
  });
  const mtime = new Date('2026-12-06T00:00:00');
  const sessions: ReplaySession[] = [];
  const files = [file('mail.log', newer.join('\n'), mtime), file('mail.log.1.gz', older, mtime), file('journal.json', journal.join('\n'), mtime)];
  const report = await replayMailLogs({ files, ruleSet: rules, onSession: (s) => sessions.push(s) });
  expect(report.input.skipped).toEqual({});
  expect(report.input.files.map((f) => f.slice(dir.length + 1))).toEqual(['mail.log.1.gz', 'mail.log', 'journal.json']);
  expect(sessions.map((s) => s.messages[0]?.recipients[0]?.address)).toEqual(['old@example.com', 'new@example.com', 'journal@example.com']);
  expect(new Date(sessions[1]!.time).toISOString()).toBe('2026-12-05T11:00:00.123Z');
});

test('a file that cannot be read is an error with its own code', async () => {
  await expect(replayMailLogs({ files: [join(dir, 'missing.log')], ruleSet: rules })).rejects.toThrow(ReplayInputError);
  await expect(replayMailLogs({ files: [file('bad.gz', Buffer.from([0x1f, 0x8b, 1, 2, 3]))], ruleSet: rules })).rejects.toMatchObject({ code: 'FG_ERR_REPLAY_INPUT' });
});
