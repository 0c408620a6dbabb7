// floodgate track: options to a filter (durations, dates, CIDR, answers), and the one-line and full renderings.
import { renderRecord, renderRecords } from '../../../src/cli/track';
import { trackFilter } from '../../../src/tracking/track-query';
import type { TrackingRecord } from '../../../src/tracking/tracking-record';

const NOW = Date.UTC(2026, 11, 5, 12, 0, 0);

test('options become a filter; durations count back from now, dates are absolute', () => {
  expect(trackFilter({}, NOW)).toEqual({ limit: 50 });
  expect(trackFilter({ from: '<A@Example.org>', to: 'b@example.com', ip: '192.0.2.0/24', 'queue-id': '4Xy1Z2abcD', answer: 'reject', rule: 'recipients', since: '1d', until: '2026-12-05T11:00:00Z', limit: '5' }, NOW)).toEqual({
    from: 'a@example.org', to: 'b@example.com', ip: '192.0.2.0/24', queueId: '4Xy1Z2abcD', answer: 'reject', rule: 'recipients', since: NOW - 86_400_000, until: Date.UTC(2026, 11, 5, 11), limit: 5,
  });
  expect(trackFilter({ ip: '2001:db8::/32' }, NOW)).toMatchObject({ ip: '2001:db8::/32' });
});

test.each([
  [{ limit: '0' }, /--limit/],
  [{ ip: '192.0.2.0/33' }, /--ip 192.0.2.0\/33: not an address or a network/],
  [{ ip: 'mx.example.org' }, /not an address/],
  [{ answer: 'bounced' }, /--answer must be one of accepted, delayed, tempfail, reject, discard, quit/],
  [{ since: 'yesterday' }, /--since and --until/],
  [{ until: '5w' }, /--since and --until/],
])('%j is a usage error', (options, message) => {
  expect(trackFilter(options, NOW)).toMatch(message);
});

const RECORD: TrackingRecord = {
  id: 42, time: NOW, session: '00002a', mtaHost: 'mx1.example.org', daemon: 'smtpd', queueId: '4Xy1Z2abcD', clientIp: '192.0.2.50', clientName: 'pc.example.net', helo: 'pc', sender: 'a@example.org',
  recipients: [{ address: 'x@example.com', answer: 'accepted' }, { address: 'y@example.com', answer: 'tempfail', reply: '451 4.7.1 Too much mail' }],
  answer: 'delayed', stage: 'eom', delayMs: 2000, rules: ['recipients'], keys: [{ key: 'ip:192.0.2.50', score: 61 }], dnsLists: [],
};

test('one line per record, with the refused recipients marked', () => {
  expect(renderRecords([RECORD])).toBe('2026-12-05T12:00:00Z       42 4Xy1Z2abcD   delayed(2000ms)@eom 192.0.2.50      <a@example.org> -> x@example.com,y@example.com(tempfail) [recipients]\n');
  expect(renderRecords([])).toBe('no records\n');
});

test('show prints every field', () => {
  const text = renderRecord(RECORD);
  expect(text).toContain('answer:       delayed at eom, 2000 ms of delay');
  expect(text).toContain('client:       192.0.2.50 (pc.example.net)');
  expect(text).toContain('to:           <y@example.com> tempfail: 451 4.7.1 Too much mail');
  expect(text).toContain('key:          ip:192.0.2.50 = 61');
  expect(text).not.toContain('subject');
});
