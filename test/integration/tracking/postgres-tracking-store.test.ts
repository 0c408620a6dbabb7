// PostgresTrackingStore on a real PostgreSQL server: the shared behaviour suite, migrations, NUL, and the server stopped and restarted mid-run.
import { Client } from 'pg';
import { TrackingError } from '../../../src/tracking/errors';
import { SCHEMA_VERSION } from '../../../src/tracking/postgres-schema';
import { PostgresTrackingStore } from '../../../src/tracking/postgres-tracking-store';
import { killAllTracked } from '../../support/processes';
import { startPostgres, type PostgresServer } from '../../support/postgres-rig';
import { describeTrackingStore, fullRecord } from '../../unit/tracking/tracking-behaviour';

let server: PostgresServer;
let databases = 0;

beforeAll(async () => {
  // fsync off: the tests prove behaviour, not durability, and share 2 cores with others.
  server = await startPostgres({ fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' });
}, 60_000);
afterAll(async () => {
  await server?.destroy();
  await killAllTracked();
});

/** A database of its own per store: no test sees another's rows or schema. */
async function freshDatabase(): Promise<string> {
  const name = `t${++databases}`;
  await server.psql(`CREATE DATABASE ${name}`);
  return `postgresql://floodgate@127.0.0.1:${server.port}/${name}`;
}

async function query<T extends Record<string, unknown>>(url: string, sql: string): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

describeTrackingStore('PostgresTrackingStore', async () => {
  const url = await freshDatabase();
  return {
    store: new PostgresTrackingStore({ url }),
    // What the size cap counts: the live rows' data.
    bytes: async () => Number((await query<{ n: string }>(url, `SELECT
      (SELECT coalesce(sum(pg_column_size(r.*)), 0) FROM tracking_records r) + (SELECT coalesce(sum(pg_column_size(x.*)), 0) FROM tracking_recipients x)
      + (SELECT coalesce(sum(pg_column_size(u.*)), 0) FROM tracking_rules u) AS n`))[0].n),
  };
});

describe('PostgresTrackingStore schema', () => {
  test('the first call creates the tables at the current version; two stores starting at once migrate once', async () => {
    const url = await freshDatabase();
    const a = new PostgresTrackingStore({ url });
    const b = new PostgresTrackingStore({ url });
    await Promise.all([a.write([fullRecord({ session: 'a' })]), b.write([fullRecord({ session: 'b' })])]);
    expect(await query(url, 'SELECT version FROM tracking_schema_version')).toEqual([{ version: SCHEMA_VERSION }]);
    expect((await a.find({ limit: 10 })).map((r) => r.session).sort()).toEqual(['a', 'b']);
    const columns = await query<{ data_type: string }>(url, "SELECT data_type FROM information_schema.columns WHERE table_name = 'tracking_records' AND column_name = 'client_ip'");
    expect(columns).toEqual([{ data_type: 'inet' }]);
    await a.close();
    await b.close();
  });

  test('tables of a newer schema than this code knows are refused with FG_ERR_TRACKING, by writers and readers', async () => {
    const url = await freshDatabase();
    const first = new PostgresTrackingStore({ url });
    await first.write([fullRecord()]);
    await first.close();
    await query(url, `UPDATE tracking_schema_version SET version = ${SCHEMA_VERSION + 1}`);
    const newer = new RegExp(`schema version ${SCHEMA_VERSION + 1}, newer than this Floodgate's ${SCHEMA_VERSION}`);
    const writer = new PostgresTrackingStore({ url });
    await expect(writer.write([fullRecord()])).rejects.toThrow(newer);
    await expect(writer.find({ limit: 1 })).rejects.toMatchObject({ code: 'FG_ERR_TRACKING' });
    const reader = new PostgresTrackingStore({ url, readOnly: true });
    await expect(reader.find({ limit: 1 })).rejects.toThrow(newer);
    await writer.close();
    await reader.close();
  });

  test('a reader never creates tables: before the service has written, it says so', async () => {
    const url = await freshDatabase();
    const reader = new PostgresTrackingStore({ url, readOnly: true });
    await expect(reader.find({ limit: 1 })).rejects.toThrow(/schema version 0, older .* creates or upgrades them/);
    await expect(reader.write([fullRecord()])).rejects.toThrow(/open read-only/);
    expect(await query(url, "SELECT to_regclass('tracking_schema_version') AS t")).toEqual([{ t: null }]);
    const writer = new PostgresTrackingStore({ url });
    await writer.write([fullRecord()]);
    expect(await reader.find({ limit: 1 })).toHaveLength(1);
    await writer.close();
    await reader.close();
  });

  test('a batch of 2,500 records (more rows than one INSERT takes) is written whole', async () => {
    const store = new PostgresTrackingStore({ url: await freshDatabase() });
    await store.write(Array.from({ length: 2500 }, (_, i) => fullRecord({ session: String(i), time: 1_700_000_000_000 + i })));
    expect(await store.find({ limit: 5000 })).toHaveLength(2500);
    expect(await store.find({ to: 'bob@customer.example', limit: 5000 })).toHaveLength(2500);
    await store.close();
  });
});

describe('PostgresTrackingStore when the server goes away', () => {
  test('writes reject with TrackingError while it is stopped, and succeed again on the same store once it is back', async () => {
    const url = await freshDatabase();
    const store = new PostgresTrackingStore({ url, connectTimeoutMs: 2000, queryTimeoutMs: 5000 });
    await store.write([fullRecord({ session: 'before' })]);

    // Stopped mid-run, with the pool's connection open: it is cut (fast shutdown), not closed politely.
    await server.stop();
    for (const session of ['during-1', 'during-2']) {
      const failure = await store.write([fullRecord({ session })]).then(() => undefined, (error: unknown) => error);
      expect(failure).toBeInstanceOf(TrackingError);
      expect(failure).toMatchObject({ code: 'FG_ERR_TRACKING', message: expect.stringMatching(/writing a batch in PostgreSQL failed/) });
    }
    await expect(store.find({ limit: 1 })).rejects.toThrow(TrackingError);

    await server.start();
    await store.write([fullRecord({ session: 'after' })]);
    expect((await store.find({ limit: 10 })).map((r) => r.session)).toEqual(['after', 'before']);
    await store.close();
  }, 60_000);

  test('a store first used while the server is down creates its tables once the server is back', async () => {
    const url = await freshDatabase();
    await server.stop();
    const store = new PostgresTrackingStore({ url, connectTimeoutMs: 2000 });
    await expect(store.write([fullRecord()])).rejects.toMatchObject({ code: 'FG_ERR_TRACKING' });
    await server.start();
    await store.write([fullRecord({ session: 'late' })]);
    expect((await store.find({ limit: 1 }))[0].session).toBe('late');
    await store.close();
  }, 60_000);

  test('a batch cut off by the server going down mid-write leaves no part of itself', async () => {
    const url = await freshDatabase();
    const store = new PostgresTrackingStore({ url, connectTimeoutMs: 2000 });
    await store.write([fullRecord({ session: 'warm-up' })]);
    const big = Array.from({ length: 20_000 }, (_, i) => fullRecord({ session: `big-${i}`, time: 1_700_000_000_000 + i }));
    const writing = store.write(big).then(() => 'written', (error: unknown) => (error instanceof TrackingError ? 'rejected' : String(error)));
    // The batch takes a few seconds: stop the server while its INSERTs run.
    await new Promise((r) => setTimeout(r, 300));
    await server.stop();
    const outcome = await writing;
    await server.start();
    const count = (await store.find({ limit: 100_000 })).length;
    expect({ outcome, count }).toEqual(outcome === 'written' ? { outcome, count: 20_001 } : { outcome: 'rejected', count: 1 });
    await store.close();
  }, 60_000);
});
