// The behaviour every TrackingStore must show; the SQLite and PostgreSQL test files register it with a factory.
import { TrackingError } from '../../../src/tracking/errors';
import type { TrackingRecord, TrackingStore } from '../../../src/tracking/tracking-record';

export interface TrackingFixture {
  store: TrackingStore;
  /** What the store's size cap counts (SQLite: the file; PostgreSQL: the live rows' data). */
  bytes(): Promise<number>;
  /** Removes what the factory made, after close(). */
  cleanup?: () => Promise<void>;
}

const T0 = Date.UTC(2026, 0, 5, 12); // a realistic epoch in ms
const HOUR = 3_600_000;

/** A record with every optional field, so that a round trip proves each column. */
export function fullRecord(overrides: Partial<TrackingRecord> = {}): TrackingRecord {
  return {
    time: T0,
    mtaHost: 'mx1.isp.example',
    daemon: 'smtpd',
    session: 'c1f',
    queueId: '4Bx2Yk0QzVz7',
    clientIp: '192.0.2.10',
    clientName: 'host-10.dyn.provider.example',
    reverseDns: 'dynamic',
    helo: '[192.0.2.10]',
    authUser: 'joe',
    sender: 'joe@example.org',
    recipients: [
      { address: 'anne@customer.example', answer: 'accepted' },
      { address: 'bob@customer.example', answer: 'reject', reply: '550 5.1.1 No such user' },
    ],
    answer: 'accepted',
    stage: 'eom',
    delayMs: 1500,
    rules: ['count-connections', 'sender-rate'],
    keys: [{ key: 'ip:192.0.2.10', score: 12.5 }, { key: 'net:192.0.2.0/24', score: 40.25 }],
    dnsLists: ['zen.dnsbl.example'],
    size: 48_213,
    messageId: '<20260105120000.1234@example.org>',
    subject: 'Invoice 2026-001',
    attachments: ['invoice.pdf', 'terms.txt'],
    ...overrides,
  };
}

/** Only what every record has: a session refused at CONNECT. */
function bareRecord(overrides: Partial<TrackingRecord> = {}): TrackingRecord {
  return { time: T0, session: 'c2', recipients: [], answer: 'reject', stage: 'connect', delayMs: 0, rules: [], keys: [], dnsLists: [], ...overrides };
}

const withoutId = ({ id: _id, ...rest }: TrackingRecord): TrackingRecord => rest;

export function describeTrackingStore(name: string, open: () => Promise<TrackingFixture>): void {
  describe(`${name}: TrackingStore behaviour`, () => {
    let fixture: TrackingFixture;
    let store: TrackingStore;
    beforeEach(async () => {
      fixture = await open();
      store = fixture.store;
    });
    afterEach(async () => {
      await store.close();
      await fixture.cleanup?.();
    });

    describe('write and get', () => {
      test('every field of a record comes back from get, with the id the store gave it', async () => {
        await store.write([fullRecord(), bareRecord({ time: T0 + 1 })]);
        const found = await store.find({ limit: 10 });
        expect(found).toHaveLength(2);
        for (const record of found) {
          expect(record.id).toEqual(expect.any(Number));
          expect(await store.get(record.id as number)).toStrictEqual(record);
        }
        expect(found.map(withoutId)).toStrictEqual([bareRecord({ time: T0 + 1 }), fullRecord()]);
      });

      test('a record without optional fields has none of them, not empty ones', async () => {
        await store.write([bareRecord()]);
        const [record] = await store.find({ limit: 1 });
        expect(Object.keys(record).sort()).toEqual(['answer', 'delayMs', 'dnsLists', 'id', 'keys', 'recipients', 'rules', 'session', 'stage', 'time']);
      });

      test('the null sender <> is kept as "" and found with from: ""', async () => {
        await store.write([fullRecord({ sender: '' }), bareRecord()]);
        expect((await store.find({ from: '', limit: 10 })).map((r) => r.sender)).toEqual(['']);
        expect((await store.find({ from: '<>', limit: 10 })).map((r) => r.sender)).toEqual(['']);
      });

      test('values a client chose come back as they were: quotes, SQL, Unicode, astral characters', async () => {
        const hostile = "x'); DROP TABLE records; -- \" \\ ' ''";
        const record = fullRecord({ helo: hostile, subject: 'Grüße 😀 ünïcödé', clientName: "o'brien.example", attachments: ["it's.pdf", 'a\nb.txt'], rules: [hostile] });
        await store.write([record]);
        const [found] = await store.find({ limit: 1 });
        expect(withoutId(found)).toStrictEqual(record);
        expect((await store.find({ rule: hostile, limit: 10 }))).toHaveLength(1);
      });

      test('NUL, which neither database returns whole, is written as U+FFFD instead of costing the batch', async () => {
        await store.write([fullRecord({ subject: 'a\0b', attachments: ['\0.exe'], helo: "'\0'", keys: [{ key: 'helo:\0', score: 1 }] }), bareRecord({ session: 'next' })]);
        const found = await store.find({ limit: 10 });
        expect(found.map((r) => r.session)).toEqual(['next', 'c1f']);
        expect(found[1]).toMatchObject({ subject: 'a\ufffdb', attachments: ['\ufffd.exe'], helo: "'\ufffd'", keys: [{ key: 'helo:\ufffd', score: 1 }] });
      });

      test('get of an id that was never given is undefined', async () => {
        expect(await store.get(987_654)).toBeUndefined();
        expect(await store.get(1.5)).toBeUndefined();
      });

      test('an empty batch writes nothing; a batch with a record no store could hold rejects whole (RangeError) and writes nothing', async () => {
        await store.write([]);
        await expect(store.write([fullRecord(), fullRecord({ clientIp: 'not-an-ip' })])).rejects.toThrow(RangeError);
        await expect(store.write([fullRecord({ time: Number.NaN })])).rejects.toThrow(/time NaN/);
        await expect(store.write([fullRecord({ keys: [{ key: 'k', score: Infinity }] })])).rejects.toThrow(RangeError);
        expect(await store.find({ limit: 10 })).toEqual([]);
      });

      test('a client IP is stored in its canonical form (IPv4-mapped IPv6 as IPv4, IPv6 compressed)', async () => {
        await store.write([fullRecord({ session: 'a', clientIp: '::ffff:192.0.2.99' }), fullRecord({ session: 'b', clientIp: '2001:DB8:0:0:0:0:0:1' })]);
        expect((await store.find({ limit: 10 })).map((r) => r.clientIp).sort()).toEqual(['192.0.2.99', '2001:db8::1']);
        // Stored so, not only shown so: found by the canonical address and by its network.
        expect((await store.find({ ip: '192.0.2.99', limit: 10 })).map((r) => r.session)).toEqual(['a']);
        expect((await store.find({ ip: '192.0.2.0/24', limit: 10 })).map((r) => r.session)).toEqual(['a']);
        expect((await store.find({ ip: '2001:db8::1', limit: 10 })).map((r) => r.session)).toEqual(['b']);
      });
    });

    describe('find', () => {
      // Ten records an hour apart, T0 .. T0+9h: their session is their index.
      const spread = (): TrackingRecord[] => [
        fullRecord({ session: '0', time: T0, clientIp: '192.0.2.1', sender: 'a@example.org' }),
        fullRecord({ session: '1', time: T0 + HOUR, clientIp: '192.0.2.200', recipients: [{ address: 'x@customer.example', answer: 'accepted' }] }),
        fullRecord({ session: '2', time: T0 + 2 * HOUR, clientIp: '192.0.3.1', queueId: 'Q2' }),
        fullRecord({ session: '3', time: T0 + 3 * HOUR, clientIp: '198.51.100.7', answer: 'tempfail', stage: 'rcpt', rules: ['ip-flood'] }),
        fullRecord({ session: '4', time: T0 + 4 * HOUR, clientIp: '2001:db8:1::5', sender: 'A@Example.ORG' }),
        fullRecord({ session: '5', time: T0 + 5 * HOUR, clientIp: '2001:db8:1:ffff::9', answer: 'delayed' }),
        fullRecord({ session: '6', time: T0 + 6 * HOUR, clientIp: '2001:db8:2::1', rules: ['ip-flood', 'sender-rate'] }),
        bareRecord({ session: '7', time: T0 + 7 * HOUR }),
        fullRecord({ session: '8', time: T0 + 8 * HOUR, clientIp: '192.0.2.1', recipients: [{ address: 'x@customer.example', answer: 'reject' }, { address: 'y@customer.example', answer: 'accepted' }] }),
        fullRecord({ session: '9', time: T0 + 9 * HOUR, clientIp: '10.0.0.1', answer: 'discard' }),
      ];
      const sessions = (records: TrackingRecord[]): string[] => records.map((r) => r.session);

      beforeEach(async () => {
        // Written out of time order and in two batches: the order of find is time's, not the ids'.
        const records = spread();
        await store.write(records.slice(5));
        await store.write(records.slice(0, 5));
      });

      test('newest first, at most limit', async () => {
        expect(sessions(await store.find({ limit: 100 }))).toEqual(['9', '8', '7', '6', '5', '4', '3', '2', '1', '0']);
        expect(sessions(await store.find({ limit: 3 }))).toEqual(['9', '8', '7']);
      });

      test('records of the same millisecond come newest-written first', async () => {
        await store.write([bareRecord({ session: 'same-1', time: T0 + 20 * HOUR }), bareRecord({ session: 'same-2', time: T0 + 20 * HOUR })]);
        expect(sessions(await store.find({ since: T0 + 20 * HOUR, limit: 10 }))).toEqual(['same-2', 'same-1']);
      });

      test('since and until, both inclusive', async () => {
        expect(sessions(await store.find({ since: T0 + 7 * HOUR, limit: 100 }))).toEqual(['9', '8', '7']);
        expect(sessions(await store.find({ until: T0 + HOUR, limit: 100 }))).toEqual(['1', '0']);
        expect(sessions(await store.find({ since: T0 + 2 * HOUR, until: T0 + 4 * HOUR, limit: 100 }))).toEqual(['4', '3', '2']);
      });

      test('ip: one IPv4 address', async () => {
        expect(sessions(await store.find({ ip: '192.0.2.1', limit: 100 }))).toEqual(['8', '0']);
        expect(sessions(await store.find({ ip: '::ffff:192.0.2.1', limit: 100 }))).toEqual(['8', '0']);
        expect(await store.find({ ip: '192.0.2.2', limit: 100 })).toEqual([]);
      });

      test('ip: IPv4 networks in CIDR notation', async () => {
        expect(sessions(await store.find({ ip: '192.0.2.0/24', limit: 100 }))).toEqual(['8', '1', '0']);
        expect(sessions(await store.find({ ip: '192.0.2.128/25', limit: 100 }))).toEqual(['1']);
        expect(sessions(await store.find({ ip: '192.0.0.0/16', limit: 100 }))).toEqual(['8', '2', '1', '0']);
        expect(sessions(await store.find({ ip: '0.0.0.0/0', limit: 100 }))).toEqual(['9', '8', '3', '2', '1', '0']);
        // A network with host bits set means the network.
        expect(sessions(await store.find({ ip: '192.0.2.77/24', limit: 100 }))).toEqual(['8', '1', '0']);
      });

      test('ip: IPv6 addresses and networks, never mixed with IPv4', async () => {
        expect(sessions(await store.find({ ip: '2001:db8:1::5', limit: 100 }))).toEqual(['4']);
        expect(sessions(await store.find({ ip: '2001:0DB8:0001:0000:0000:0000:0000:0005', limit: 100 }))).toEqual(['4']);
        expect(sessions(await store.find({ ip: '2001:db8:1::/48', limit: 100 }))).toEqual(['5', '4']);
        expect(sessions(await store.find({ ip: '2001:db8::/32', limit: 100 }))).toEqual(['6', '5', '4']);
        expect(sessions(await store.find({ ip: '::/0', limit: 100 }))).toEqual(['6', '5', '4']);
      });

      test('from, as a person types it: any case, with or without brackets', async () => {
        expect(sessions(await store.find({ from: 'a@example.org', limit: 100 }))).toEqual(['0']);
        expect(sessions(await store.find({ from: '<A@EXAMPLE.org>', limit: 100 }))).toEqual(['0']);
      });

      test('to: a recipient among several, once per record', async () => {
        expect(sessions(await store.find({ to: 'x@customer.example', limit: 100 }))).toEqual(['8', '1']);
        expect(sessions(await store.find({ to: 'Y@Customer.Example', limit: 100 }))).toEqual(['8']);
        expect(sessions(await store.find({ to: 'x@customer.example', since: T0 + 2 * HOUR, limit: 100 }))).toEqual(['8']);
        expect(sessions(await store.find({ to: 'x@customer.example', until: T0 + 2 * HOUR, limit: 100 }))).toEqual(['1']);
      });

      test('queue id, answer and rule', async () => {
        expect(sessions(await store.find({ queueId: 'Q2', limit: 100 }))).toEqual(['2']);
        expect(sessions(await store.find({ answer: 'tempfail', limit: 100 }))).toEqual(['3']);
        expect(sessions(await store.find({ answer: 'reject', limit: 100 }))).toEqual(['7']);
        expect(sessions(await store.find({ rule: 'ip-flood', limit: 100 }))).toEqual(['6', '3']);
        expect(sessions(await store.find({ rule: 'ip-flood', since: T0 + 5 * HOUR, limit: 100 }))).toEqual(['6']);
        expect(await store.find({ rule: 'no-such-rule', limit: 100 })).toEqual([]);
      });

      test('filters combine: all must hold', async () => {
        expect(sessions(await store.find({ ip: '192.0.2.0/24', to: 'x@customer.example', limit: 100 }))).toEqual(['8', '1']);
        expect(sessions(await store.find({ ip: '192.0.2.0/24', to: 'x@customer.example', since: T0 + HOUR, until: T0 + 7 * HOUR, limit: 100 }))).toEqual(['1']);
        expect(sessions(await store.find({ rule: 'ip-flood', answer: 'tempfail', limit: 100 }))).toEqual(['3']);
        expect(sessions(await store.find({ rule: 'sender-rate', ip: '2001:db8::/32', limit: 100 }))).toEqual(['6', '5', '4']);
        expect(await store.find({ from: 'a@example.org', ip: '10.0.0.0/8', limit: 100 })).toEqual([]);
      });

      test('found records are whole: recipients in their order, with their replies', async () => {
        const [eight] = await store.find({ ip: '192.0.2.1', limit: 1 });
        expect(eight.recipients).toEqual([{ address: 'x@customer.example', answer: 'reject' }, { address: 'y@customer.example', answer: 'accepted' }]);
      });

      test('a filter no query could mean is a RangeError', async () => {
        await expect(store.find({ ip: '192.0.2.300', limit: 10 })).rejects.toThrow(RangeError);
        await expect(store.find({ ip: '192.0.2.0/33', limit: 10 })).rejects.toThrow(/prefix/);
        await expect(store.find({ limit: 0 })).rejects.toThrow(/limit/);
        await expect(store.find({ since: Number.NaN, limit: 1 })).rejects.toThrow(/since/);
      });
    });

    describe('prune', () => {
      const day = (n: number, count: number): TrackingRecord[] =>
        Array.from({ length: count }, (_, i) => fullRecord({ session: `d${n}-${i}`, time: T0 + n * 24 * HOUR + i, recipients: [{ address: `day${n}@customer.example`, answer: 'accepted' }], rules: [`rule-day${n}`] }));

      test('by time: records older than the cut go, with their recipients and rules; the rest stay', async () => {
        await store.write([...day(0, 30), ...day(1, 30), ...day(2, 30)]);
        expect(await store.prune(T0 + 24 * HOUR)).toBe(30);
        expect(await store.find({ to: 'day0@customer.example', limit: 100 })).toEqual([]);
        expect(await store.find({ rule: 'rule-day0', limit: 100 })).toEqual([]);
        expect(await store.find({ to: 'day1@customer.example', limit: 100 })).toHaveLength(30);
        expect(await store.find({ limit: 1000 })).toHaveLength(60);
        expect(await store.prune(T0 + 24 * HOUR)).toBe(0);
        // More than one chunk of deletions.
        await store.write(day(3, 6000));
        expect(await store.prune(T0 + 3 * 24 * HOUR + 5500)).toBe(60 + 5500);
        expect(await store.find({ limit: 10_000 })).toHaveLength(500);
      }, 60_000);

      test('by size: the oldest go until the store is under the cap; the newest stay', async () => {
        const all = [0, 1, 2, 3].flatMap((n) => day(n, 500));
        for (let n = 0; n < 4; n++) await store.write(all.slice(n * 500, (n + 1) * 500));
        const before = await fixture.bytes();
        const removed = await store.prune(0, Math.floor(before / 2));
        expect(removed).toBeGreaterThan(500);
        expect(removed).toBeLessThan(2000);
        const left = await store.find({ limit: 10_000 });
        expect(left).toHaveLength(2000 - removed);
        // Exactly the oldest went: what is left is the newest, without a gap.
        expect(left[0].session).toBe('d3-499');
        expect(Math.min(...left.map((r) => r.time))).toBe(all[removed].time);
        expect(await store.prune(0, before * 10)).toBe(0);
      }, 60_000);
    });

    test('after close, calls reject with TrackingError (FG_ERR_TRACKING)', async () => {
      await store.close();
      await expect(store.write([bareRecord()])).rejects.toThrow(TrackingError);
      await expect(store.find({ limit: 1 })).rejects.toMatchObject({ code: 'FG_ERR_TRACKING' });
      await store.close(); // twice is harmless
    });
  });
}
