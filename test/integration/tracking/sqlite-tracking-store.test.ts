// SqliteTrackingStore on real files: the shared behaviour suite, schema versions, read-only readers, size caps, query plans, SIGKILL and a reader process.
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { TrackingError } from '../../../src/tracking/errors';
import { findQuery } from '../../../src/tracking/sqlite-query';
import { MIGRATIONS, SCHEMA_VERSION } from '../../../src/tracking/sqlite-schema';
import { DELETE_DOOMED_KEYS, SqliteTrackingStore, TRACKING_FILE } from '../../../src/tracking/sqlite-tracking-store';
import { checkFilter } from '../../../src/tracking/tracking-filter';
import type { TrackingFilter, TrackingRecord } from '../../../src/tracking/tracking-record';
import { typescriptChild } from '../../support/typescript-child';
import { describeTrackingStore, fullRecord } from '../../unit/tracking/tracking-behaviour';

/** libsql's synchronous API, for what the store never does: pragmas, EXPLAIN, a trigger, integrity_check. */
type Side = { exec(sql: string): void; prepare(sql: string): { all(...params: unknown[]): Record<string, unknown>[] }; close(): void };
// A plain require: libsql's declarations are behind its package "exports" (see src/tracking/libsql-connection.ts).
const Libsql = require('libsql') as new (path: string) => Side;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'fg-tracking-'));
}

/** Runs `use` on a second connection to the store's file, then closes it. */
function side<T>(dir: string, use: (db: Side) => T): T {
  const db = new Libsql(join(dir, TRACKING_FILE));
  try {
    return use(db);
  } finally {
    db.close();
  }
}

/** The file's bytes once the WAL is checkpointed into it: what the size cap counts. */
function fileBytes(dir: string): number {
  side(dir, (db) => db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').all());
  return statSync(join(dir, TRACKING_FILE)).size;
}

describeTrackingStore('SqliteTrackingStore', async () => {
  const dir = tempDir();
  return { store: await SqliteTrackingStore.open(dir), bytes: async () => fileBytes(dir), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

describe('SqliteTrackingStore on disk', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('creates missing directories and a WAL file at the current schema version, with incremental vacuum', async () => {
    const store = await SqliteTrackingStore.open(join(dir, 'a', 'b'));
    await store.write([fullRecord()]);
    expect(store.path).toBe(join(dir, 'a', 'b', TRACKING_FILE));
    expect(existsSync(join(dir, 'a', 'b', `${TRACKING_FILE}-wal`))).toBe(true);
    side(join(dir, 'a', 'b'), (db) => {
      expect(db.prepare('PRAGMA journal_mode').all()[0].journal_mode).toBe('wal');
      expect(db.prepare('PRAGMA user_version').all()[0].user_version).toBe(SCHEMA_VERSION);
      expect(db.prepare('PRAGMA auto_vacuum').all()[0].auto_vacuum).toBe(2); // incremental
    });
    await store.close();
  });

  test('records survive close and reopen, and a reopen migrates nothing twice', async () => {
    const first = await SqliteTrackingStore.open(dir);
    await first.write([fullRecord({ session: 'kept' })]);
    await first.close();
    const second = await SqliteTrackingStore.open(dir);
    expect((await second.find({ limit: 10 })).map((r) => r.session)).toEqual(['kept']);
    await second.close();
  });

  test('a database of a newer schema than this code knows is refused with FG_ERR_TRACKING, by writers and readers', async () => {
    await (await SqliteTrackingStore.open(dir)).close();
    side(dir, (db) => db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`));
    const newer = new RegExp(`schema version ${SCHEMA_VERSION + 1}, newer than this Floodgate's ${SCHEMA_VERSION}`);
    await expect(SqliteTrackingStore.open(dir)).rejects.toThrow(newer);
    await expect(SqliteTrackingStore.open(dir)).rejects.toMatchObject({ code: 'FG_ERR_TRACKING' });
    await expect(SqliteTrackingStore.open(dir, { readOnly: true })).rejects.toThrow(newer);
  });

  test('an empty file (version 0) is migrated by a writer; a reader refuses it, and a missing file, with the reason', async () => {
    await expect(SqliteTrackingStore.open(dir, { readOnly: true })).rejects.toThrow(TrackingError);
    side(dir, () => undefined); // creates the empty file
    await expect(SqliteTrackingStore.open(dir, { readOnly: true })).rejects.toThrow(/schema version 0, older .* the service upgrades it/);
    const writer = await SqliteTrackingStore.open(dir);
    await writer.write([fullRecord()]);
    await writer.close();
    const reader = await SqliteTrackingStore.open(dir, { readOnly: true });
    expect(await reader.find({ limit: 1 })).toHaveLength(1);
    await reader.close();
  });

  test('a version 1 file is migrated in place: records whole, ids and the id high-water mark kept, every filter finds them', async () => {
    side(dir, (db) => {
      db.exec(`PRAGMA auto_vacuum = INCREMENTAL; BEGIN; ${MIGRATIONS[0]}; PRAGMA user_version = 1; COMMIT;`);
      // As version 1 wrote them: a message with two recipients and two rules; a session refused at
      // RCPT, without the optional columns; and a third record, since pruned.
      db.exec(`INSERT INTO records (id, time, mta_host, daemon, session, queue_id, client_ip, client_name, reverse_dns, helo, auth_user,
          sender, answer, stage, delay_ms, rules, keys, dns_lists, size, message_id, subject, attachments)
        VALUES (1, 1000, 'mx1', 'smtpd', 's1', 'Q1', unhex('00000000000000000000ffffc000020a'), 'host.example', 'dynamic', '[192.0.2.10]', 'joe',
          'joe@example.org', 'accepted', 'eom', 1500, '["count-connections","sender-rate"]', '[{"key":"ip:192.0.2.10","score":12.5}]',
          '["zen.dnsbl.example"]', 48213, '<m1@example.org>', 'Invoice', '["invoice.pdf"]'),
        (2, 2000, NULL, NULL, 's2', NULL, unhex('20010db8000000000000000000000001'), NULL, NULL, NULL, NULL,
          '', 'reject', 'rcpt', 0, '[]', '[]', '[]', NULL, NULL, NULL, NULL),
        (3, 3000, NULL, NULL, 's3', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'quit', 'quit', 0, '[]', '[]', '[]', NULL, NULL, NULL, NULL);
        INSERT INTO recipients VALUES (1, 1, 'bob@customer.example', 'reject', '550 5.1.1 No such user', 1000),
          (1, 0, 'anne@customer.example', 'accepted', NULL, 1000), (2, 0, 'anne@customer.example', 'reject', '554 5.7.1 Go away', 2000);
        INSERT INTO record_rules VALUES (1, 'count-connections', 1000), (1, 'sender-rate', 1000);
        DELETE FROM records WHERE id = 3;`);
    });
    const store = await SqliteTrackingStore.open(dir);
    // The pages of the tables it rewrote went back to the file system at once, not at the first prune.
    side(dir, (db) => expect(db.prepare('PRAGMA freelist_count').all()[0].freelist_count).toBe(0));
    expect(await store.get(1)).toEqual({
      id: 1, time: 1000, mtaHost: 'mx1', daemon: 'smtpd', session: 's1', queueId: 'Q1', clientIp: '192.0.2.10', clientName: 'host.example',
      reverseDns: 'dynamic', helo: '[192.0.2.10]', authUser: 'joe', sender: 'joe@example.org',
      recipients: [{ address: 'anne@customer.example', answer: 'accepted' }, { address: 'bob@customer.example', answer: 'reject', reply: '550 5.1.1 No such user' }],
      answer: 'accepted', stage: 'eom', delayMs: 1500, rules: ['count-connections', 'sender-rate'], keys: [{ key: 'ip:192.0.2.10', score: 12.5 }],
      dnsLists: ['zen.dnsbl.example'], size: 48213, messageId: '<m1@example.org>', subject: 'Invoice', attachments: ['invoice.pdf'],
    });
    expect(await store.get(2)).toEqual({
      id: 2, time: 2000, session: 's2', clientIp: '2001:db8::1', sender: '', recipients: [{ address: 'anne@customer.example', answer: 'reject', reply: '554 5.7.1 Go away' }],
      answer: 'reject', stage: 'rcpt', delayMs: 0, rules: [], keys: [], dnsLists: [],
    });
    const ids = async (filter: Omit<TrackingFilter, 'limit'>): Promise<number[]> => (await store.find({ ...filter, limit: 10 })).map((r) => r.id!);
    expect(await ids({ to: 'anne@customer.example' })).toEqual([2, 1]);
    expect(await ids({ to: 'bob@customer.example', since: 1000 })).toEqual([1]);
    expect(await ids({ rule: 'sender-rate' })).toEqual([1]);
    expect(await ids({ ip: '2001:db8::/32' })).toEqual([2]);
    expect(await ids({ from: '' })).toEqual([2]);
    expect(await ids({ queueId: 'Q1' })).toEqual([1]);
    // AUTOINCREMENT's high-water mark came along: the pruned record's id 3 names nothing new.
    await store.write([fullRecord({ time: 4000 })]);
    expect(await ids({ since: 4000 })).toEqual([4]);
    await store.close();
    side(dir, (db) => {
      expect(db.prepare('PRAGMA user_version').all()[0].user_version).toBe(SCHEMA_VERSION);
      expect(db.prepare('PRAGMA integrity_check').all()[0].integrity_check).toBe('ok');
      expect(db.prepare("SELECT name FROM sqlite_master WHERE name IN ('recipients', 'record_rules', 'records_2')").all()).toEqual([]);
    });
  });

  test('prune deletes the recipient and rule keys of the records it deletes, and no other', async () => {
    const store = await SqliteTrackingStore.open(dir);
    await store.write([fullRecord({ time: 1000, session: 'old' }), fullRecord({ time: 5000, session: 'new' })]);
    expect(await store.prune(2000)).toBe(1);
    await store.close();
    side(dir, (db) => {
      expect(db.prepare('SELECT address, time FROM by_recipient ORDER BY address').all()).toEqual([
        { address: 'anne@customer.example', time: 5000 }, { address: 'bob@customer.example', time: 5000 },
      ]);
      expect(db.prepare('SELECT rule, time FROM by_rule ORDER BY rule').all()).toEqual([{ rule: 'count-connections', time: 5000 }, { rule: 'sender-rate', time: 5000 }]);
    });
  });

  test('the detail holds what has no column of its own; a record is read back with the row\'s id and its address as the key holds it', async () => {
    const store = await SqliteTrackingStore.open(dir);
    await store.write([{ ...fullRecord({ clientIp: '::FFFF:192.0.2.10' }), id: 3 }]);
    const [found] = await store.find({ limit: 1 });
    expect(found).toEqual({ ...fullRecord(), id: 1 });
    await store.close();
    side(dir, (db) => {
      const [row] = db.prepare('SELECT detail FROM records').all();
      const { time: _time, queueId: _queueId, clientIp: _clientIp, sender: _sender, answer: _answer, ...rest } = fullRecord();
      expect(JSON.parse(row.detail as string)).toEqual(rest);
    });
  });

  test('a read-only store finds beside the writer but never writes or prunes', async () => {
    const writer = await SqliteTrackingStore.open(dir);
    await writer.write([fullRecord({ session: 'one' })]);
    const reader = await SqliteTrackingStore.open(dir, { readOnly: true });
    expect((await reader.find({ limit: 10 })).map((r) => r.session)).toEqual(['one']);
    await writer.write([fullRecord({ session: 'two' })]);
    expect((await reader.find({ limit: 10 })).map((r) => r.session)).toEqual(['two', 'one']);
    await expect(reader.write([fullRecord()])).rejects.toThrow(/open read-only/);
    await expect(reader.prune(Date.now())).rejects.toMatchObject({ code: 'FG_ERR_TRACKING' });
    await reader.close();
    await writer.close();
  });

  test('a batch that fails in SQL half-way writes none of its records, and the next batch is written', async () => {
    const store = await SqliteTrackingStore.open(dir);
    side(dir, (db) => db.exec("CREATE TRIGGER boom BEFORE INSERT ON records WHEN NEW.detail->>'session' = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END"));
    await expect(store.write([fullRecord({ session: 'a' }), fullRecord({ session: 'boom' }), fullRecord({ session: 'c' })])).rejects.toThrow(/writing a batch .* failed: boom/);
    expect(await store.find({ limit: 10 })).toEqual([]);
    await store.write([fullRecord({ session: 'd' })]);
    expect((await store.find({ limit: 10 })).map((r) => r.session)).toEqual(['d']);
    await store.close();
  });

  test('a connection thread that stops is replaced: a batch in flight settles, the next is written', async () => {
    const store = await SqliteTrackingStore.open(dir);
    await store.write([fullRecord({ session: 'before' })]);
    // Stands for a crash of the thread (it answers every database error, so nothing else stops it).
    const thread = (store as unknown as { db: { worker: Worker } }).db.worker;
    const writing = store.write([fullRecord({ session: 'in flight' })]);
    await thread.terminate();
    // Written before the thread went, or failed with the reason: never left waiting.
    const outcome = await writing.then(() => 'written', (error: Error) => error.message);
    expect(outcome).toMatch(/^written$|database thread exited/);
    await store.write([fullRecord({ session: 'after' })]);
    const sessions = (await store.find({ limit: 10 })).map((r) => r.session);
    expect(sessions).toEqual(outcome === 'written' ? ['after', 'in flight', 'before'] : ['after', 'before']);
    await store.close();
  });

  test('prune to a size cap shrinks the file itself under the cap and truncates the WAL', async () => {
    const store = await SqliteTrackingStore.open(dir);
    const T = Date.UTC(2026, 0, 1);
    for (let b = 0; b < 20; b++) await store.write(Array.from({ length: 200 }, (_, i) => fullRecord({ session: `${b}-${i}`, time: T + b * 1000 + i })));
    const before = fileBytes(dir);
    const cap = Math.floor(before / 3);
    const removed = await store.prune(0, cap);
    expect(removed).toBeGreaterThan(2000);
    expect(statSync(join(dir, TRACKING_FILE)).size).toBeLessThanOrEqual(cap);
    expect(statSync(join(dir, `${TRACKING_FILE}-wal`)).size).toBe(0);
    expect((await store.find({ limit: 1 }))[0].session).toBe('19-199');
    await store.close();
  });

  test('every filter is served by an index: no full scan of a table', async () => {
    const store = await SqliteTrackingStore.open(dir);
    await store.write([fullRecord()]);
    await store.close();
    const filters: Record<string, Omit<TrackingFilter, 'limit'>> = {
      none: {},
      since: { since: 1 },
      'ip address': { ip: '192.0.2.1', since: 1 },
      'ip network v4': { ip: '192.0.2.0/24' },
      'ip network v6': { ip: '2001:db8::/32', until: 5 },
      from: { from: 'a@example.org', since: 1 },
      to: { to: 'b@example.org', since: 1 },
      'queue id': { queueId: 'Q1' },
      answer: { answer: 'reject', since: 1 },
      rule: { rule: 'ip-flood', since: 1 },
    };
    side(dir, (db) => {
      for (const [name, filter] of Object.entries(filters)) {
        const { sql, params } = findQuery(checkFilter({ ...filter, limit: 50 }));
        const plan = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params).map((row) => String(row.detail));
        const fullScans = plan.filter((line) => /^SCAN (records|by_recipient|by_rule)$/.test(line));
        expect({ name, fullScans }).toEqual({ name, fullScans: [] });
        // An address or a sender alone is read from its index in time order: nothing to sort.
        if (['ip address', 'from', 'answer'].includes(name)) expect({ name, plan }).toEqual({ name, plan: expect.not.arrayContaining(['USE TEMP B-TREE FOR ORDER BY']) });
      }
      // Prune finds each key of a doomed record by the whole of it.
      db.exec('CREATE TEMP TABLE doomed (id INTEGER PRIMARY KEY)');
      const keyLookups = DELETE_DOOMED_KEYS.map((sql) => String(db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all()[0].detail));
      expect(keyLookups).toEqual(['SEARCH by_recipient USING PRIMARY KEY (address=? AND time=? AND record_id=?)', 'SEARCH by_rule USING PRIMARY KEY (rule=? AND time=? AND record_id=?)']);
    });
  });
});

describe('SqliteTrackingStore and other processes', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const BATCH = 100;
  const T = Date.UTC(2026, 0, 1);

  test('SIGKILL during heavy writes: the file opens cleanly and holds every batch whose write had resolved, whole', async () => {
    // Batch b's records have times T + b*1000 + i; the child prints b once write() resolved.
    const child = typescriptChild(`
      const { SqliteTrackingStore } = require('./src/tracking/sqlite-tracking-store.ts');
      const { fullRecord } = require('./test/unit/tracking/tracking-behaviour.ts');
      SqliteTrackingStore.open(process.argv[1]).then(async (store) => {
        for (let b = 0; ; b++) {
          await store.write(Array.from({ length: ${BATCH} }, (_, i) => fullRecord({ session: b + '-' + i, time: ${T} + b * 1000 + i })));
          process.stdout.write(b + '\\n');
        }
      });
    `, [dir]);
    let reported = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (reported += s));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // Long enough for several WAL checkpoints' worth of writing; killed at no particular point of a batch.
    const deadline = Date.now() + 30_000;
    while (reported.split('\n').length < 150 && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await exited;
    const committed = reported.split('\n').filter((line) => line !== '').map(Number);
    expect(committed.length).toBeGreaterThan(20);

    const integrity = side(dir, (db) => db.prepare('PRAGMA integrity_check').all());
    expect(integrity).toEqual([{ integrity_check: 'ok' }]);
    const store = await SqliteTrackingStore.open(dir);
    const all = await store.find({ limit: 1_000_000 });
    const perBatch = new Map<number, number>();
    for (const r of all) perBatch.set(Math.floor((r.time - T) / 1000), (perBatch.get(Math.floor((r.time - T) / 1000)) ?? 0) + 1);
    for (const b of committed) expect({ batch: b, records: perBatch.get(b) }).toEqual({ batch: b, records: BATCH });
    // A batch in flight at the kill is all there or not there at all, and only the one after the last reported.
    for (const [b, n] of perBatch) expect({ batch: b, records: n }).toEqual({ batch: b, records: BATCH });
    expect(Math.max(...perBatch.keys())).toBeLessThanOrEqual(Math.max(...committed) + 1);
    // Its recipients came with it.
    const last = await store.find({ since: T + Math.max(...committed) * 1000, until: T + Math.max(...committed) * 1000 + 999, limit: 1000 });
    expect(last.every((r: TrackingRecord) => r.recipients.length === 2)).toBe(true);
    await store.write([fullRecord({ session: 'after' })]);
    await store.close();
  }, 60_000);

  test('another process reads while this one writes: it sees the count grow, never fail, never go back', async () => {
    const writer = await SqliteTrackingStore.open(dir);
    await writer.write([fullRecord({ session: 'first', time: T })]);
    const child = typescriptChild(`
      const { SqliteTrackingStore } = require('./src/tracking/sqlite-tracking-store.ts');
      SqliteTrackingStore.open(process.argv[1], { readOnly: true }).then(async (store) => {
        const until = Date.now() + 2500;
        while (Date.now() < until) {
          try { process.stdout.write((await store.find({ limit: 1000000 })).length + '\\n'); }
          catch (error) { process.stdout.write('error ' + error.message + '\\n'); }
        }
        const refused = await store.write([]).then(() => 'empty batch ok').catch(() => 'unexpected');
        const writeAttempt = await store.prune(0).then(() => 'pruned', (e) => e.code);
        process.stdout.write('done ' + refused + ' ' + writeAttempt + '\\n');
        await store.close();
      }, (error) => process.stdout.write('error ' + error.message + '\\n'));
    `, [dir]);
    let output = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (output += s));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // 40 batches over ~2 s of the reader's 2.5, from its first read on: the file stays small enough
    // that it is read whole many times while it grows (unbounded, on a loaded CI machine, each read
    // took ~0.6 s and the reader saw only four counts).
    let written = 1;
    let b = 1;
    while (child.exitCode === null && !output.includes('done')) {
      if (output !== '' && b <= 40) {
        await writer.write(Array.from({ length: BATCH }, (_, i) => fullRecord({ session: `${b}-${i}`, time: T + b * 1000 + i })));
        written += BATCH;
        b++;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await exited;
    await writer.close();
    const lines = output.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('error'))).toEqual([]);
    expect(lines[lines.length - 1]).toBe('done empty batch ok FG_ERR_TRACKING');
    const counts = lines.slice(0, -1).map(Number);
    expect(counts.length).toBeGreaterThan(5);
    // Whole batches only (1 + 100k), in order, and growing while it read.
    for (const [i, n] of counts.entries()) {
      expect((n - 1) % BATCH).toBe(0);
      if (i > 0) expect(n).toBeGreaterThanOrEqual(counts[i - 1]);
    }
    expect(new Set(counts).size).toBeGreaterThan(2);
    expect(counts[counts.length - 1]).toBeLessThanOrEqual(written);
  }, 60_000);
});
