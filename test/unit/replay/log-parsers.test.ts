// The mail-log parsers one line at a time: stamps (year inference, RFC 3339), syslog and journal
// lines, and the Postfix and Sendmail lines replay reads, as Debian 12's Postfix 3.7 and Sendmail 8.17 write them.
import { parseLogLine, type LogLine } from '../../../src/replay/log-line';
import { StampReader } from '../../../src/replay/log-stamp';
import { postfixEvent } from '../../../src/replay/postfix-lines';
import { sendmailEvent } from '../../../src/replay/sendmail-lines';

const DEC_2026 = Date.UTC(2026, 11, 5, 12);
const line = (text: string, reference = DEC_2026): LogLine => {
  const parsed = parseLogLine(text, new StampReader(reference));
  if (typeof parsed === 'string') throw new Error(`${text}: ${parsed}`);
  return parsed;
};

describe('stamps', () => {
  test('a syslog stamp takes the year that puts it at most a day after the file, and moves on at New Year', () => {
    const stamps = new StampReader(Date.UTC(2027, 0, 1, 6));
    const dec = stamps.read('Dec 31 23:59:58 mx postfix/smtpd[1]: x')!;
    const jan = stamps.read('Jan  1 00:00:01 mx postfix/smtpd[1]: x')!;
    const late = stamps.read('Dec 31 23:59:59 mx postfix/smtpd[1]: x')!;
    expect(new Date(dec.time).getUTCFullYear()).toBe(2026);
    expect(new Date(jan.time).getUTCFullYear()).toBe(2027);
    // A line a second out of order across midnight stays in the old year.
    expect(new Date(late.time).getUTCFullYear()).toBe(2026);
  });

  test('RFC 3339 with a fraction and an offset', () => {
    expect(line('2026-12-05T14:02:33.123456+01:00 mx postfix/smtpd[4711]: connect from x[192.0.2.1]').time).toBe(Date.UTC(2026, 11, 5, 13, 2, 33, 123));
  });

  test('lines without host, journal entries, and what is refused', () => {
    expect(line('Dec  5 14:02:33 postfix/smtpd[4711]: connect from x[192.0.2.1]')).toMatchObject({ host: '', program: 'postfix/smtpd', pid: '4711' });
    const journal = JSON.stringify({ MESSAGE: 'connect from x[192.0.2.1]', __REALTIME_TIMESTAMP: '1796479353000000', SYSLOG_IDENTIFIER: 'postfix/smtpd', SYSLOG_PID: '9', _HOSTNAME: 'mx' });
    expect(parseLogLine(journal, new StampReader(DEC_2026))).toMatchObject({ time: 1_796_479_353_000, program: 'postfix/smtpd', host: 'mx' });
    const stamps = new StampReader(DEC_2026);
    expect(parseLogLine('{"MESSAGE": 1}', stamps)).toBe('bad_journal_entry');
    expect(parseLogLine('garbage without a stamp', stamps)).toBe('no_timestamp');
    expect(parseLogLine('Dec  5 14:02:33 mx postfix/smtpd[1]\u0000: x', stamps)).toBe('binary');
    expect(parseLogLine('Dec  5 14:02:33 mx', stamps)).toBe('not_syslog');
  });
});

describe('Postfix lines', () => {
  const pf = (message: string, program = 'postfix/smtpd') => postfixEvent(line(`Dec  5 14:02:33 mx ${program}[4711]: ${message}`));

  test('connect, client, sender with size, delivery, removal, disconnect', () => {
    expect(pf('connect from mail.example.org[192.0.2.1]')).toMatchObject({ kind: 'connect', clientIp: '192.0.2.1', clientName: 'mail.example.org' });
    expect(pf('4Xy1Z2abcD: client=unknown[198.51.100.7], sasl_method=PLAIN, sasl_username=joe')).toMatchObject({ kind: 'client', queueId: '4Xy1Z2abcD', clientIp: '198.51.100.7', authUser: 'joe' });
    expect(pf('4Xy1Z2abcD: from=<a@example.org>, size=1234, nrcpt=2 (queue active)', 'postfix/qmgr')).toMatchObject({ kind: 'sender', queueId: '4Xy1Z2abcD', sender: 'a@example.org', size: 1234, recipients: 2 });
    expect(pf('4Xy1Z2abcD: from=<>, size=99, nrcpt=1 (queue active)', 'postfix/qmgr')).toMatchObject({ sender: '' });
    expect(pf('4Xy1Z2abcD: to=<b@example.com>, relay=127.0.0.1[127.0.0.1]:25, delay=0.1, dsn=2.0.0, status=sent (250 ok)', 'postfix/smtp')).toMatchObject({ kind: 'delivery', queueId: '4Xy1Z2abcD', recipients: ['b@example.com'] });
    expect(pf('4Xy1Z2abcD: removed', 'postfix/qmgr')).toEqual({ kind: 'removed', queueId: '4Xy1Z2abcD' });
    expect(pf('disconnect from mail.example.org[192.0.2.1] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5')).toMatchObject({ kind: 'disconnect' });
  });

  test('NOQUEUE and milter refusals: by the MTA itself or not, with helo, sender and recipient', () => {
    expect(pf('NOQUEUE: reject: RCPT from unknown[192.0.2.9]: 550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in virtual mailbox table; from=<a@example.org> to=<nobody@example.com> proto=ESMTP helo=<pc.example>')).toMatchObject({
      kind: 'refused', stage: 'rcpt', byMta: true, clientIp: '192.0.2.9', sender: 'a@example.org', recipient: 'nobody@example.com', helo: 'pc.example',
    });
    expect(pf('NOQUEUE: milter-reject: RCPT from unknown[192.0.2.9]: 451 4.7.1 Too much mail; from=<a@example.org> to=<x@example.com> proto=ESMTP helo=<pc.example>')).toMatchObject({ kind: 'refused', stage: 'rcpt', byMta: false });
  });

  test('lines of other programs and unknown messages are not events', () => {
    expect(pf('warning: hostname x does not resolve to address 192.0.2.1')).toBeUndefined();
  });
});

describe('Sendmail lines', () => {
  const sm = (message: string) => sendmailEvent(line(`Dec  5 14:02:33 mx sm-mta[812]: ${message}`));

  test('from= and to= lines of a message', () => {
    expect(sm('4B5E2X1a000812: from=<a@example.org>, size=321, class=0, nrcpts=1, msgid=<m@x>, proto=ESMTP, daemon=MTA-v4, relay=mail.example.org [192.0.2.1]')).toMatchObject({ kind: 'sender', queueId: '4B5E2X1a000812', sender: 'a@example.org', size: 321, clientIp: '192.0.2.1' });
    expect(sm('4B5E2X1a000812: to=<b@example.com>, delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=120321, relay=127.0.0.1 [127.0.0.1], dsn=2.0.0, stat=Sent (ok)')).toMatchObject({ kind: 'delivery', recipients: ['b@example.com'] });
  });

  test('a check_rcpt refusal is the MTA\'s own; a milter refusal is not', () => {
    expect(sm('4B5E2X1a000812: ruleset=check_rcpt, arg1=<nobody@example.com>, relay=x [192.0.2.9], reject=550 5.1.1 <nobody@example.com>... User unknown')).toMatchObject({ kind: 'refused', stage: 'rcpt', byMta: true });
    expect(sm('4B5E2X1a000812: Milter: to=<x@example.com>, reject=451 4.7.1 Too much mail')).toMatchObject({ kind: 'refused', byMta: false });
  });
});
