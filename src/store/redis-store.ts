// RedisStore: the score store in Redis (one server, Sentinel or Cluster), shared by every MX host of a site.
//
// Layout: one hash per key, `<prefix>{<key>}`, fields s, t, h, e (score, updatedAt, halfLifeMs, expiresAt).
// The braces are a Cluster hash tag: everything about one key lives in one slot, so each script is a
// single-slot script and addMany() sends one script per key (pipelined), never a multi-key script.
//
// Each update is one Lua script (./redis-scripts.ts) that decays, caps, adds and writes the value and
// its PEXPIREAT together. Redis deletes expired hashes itself, so the service runs no sweeper for it.
//
// Costs: add/get/delete are one round trip each. top(), size() and sweep() SCAN every primary's whole
// keyspace (MATCH filters on the server, but the walk is over all keys): size() ~1.5 s per million
// keys, top() ~7 s (it also reads each hash), measured on 2 cores (bench/store-bench.ts). A maintained
// ranking cannot replace the scan: scores decay at each key's own half-life, so a sorted set's order
// goes stale, and one index key would put every update of the Cluster in its slot.
import { Cluster, type Redis } from 'ioredis';
import { addOne, checkedBatch, checkKey, checkNow, checkTopLimit, liveRecord, MAX_EXPIRES_AT, type StoredScore } from './decay';
import { StoreError, toStoreError } from './errors';
import { createRedisClient, waitUntilReady, type RedisClient, type RedisConnectionOptions } from './redis-connection';
import { ADD_SCRIPT, SWEEP_SCRIPT } from './redis-scripts';
import { EPSILON, type ScoreRecord, type ScoreStore, type ScoreUpdate } from './score-store';
import { TopScores } from './top-scores';

export interface RedisStoreOptions extends RedisConnectionOptions {
  /** Put before every key; lets several sites or test runs share one Redis. Default `floodgate:`. */
  keyPrefix?: string;
  /** Called once each time the connection is lost, and once when it is ready again (for the log). */
  onConnectionChange?: (state: 'lost' | 'ready', error?: Error) => void;
}

export const DEFAULT_KEY_PREFIX = 'floodgate:';

/** Keys per SCAN step and per batch of reads: bounds memory and the size of each pipeline. */
const SCAN_COUNT = 1000;

/** The scripts as ioredis registers them with defineCommand (EVALSHA, with the source re-sent after NOSCRIPT). */
interface ScriptCommands {
  fgAdd(key: string, now: string, points: string, halfLifeMs: string, cap: string, epsilon: string, maxExpires: string): Promise<string>;
  fgSweep(key: string, now: string): Promise<number>;
}

export class RedisStore implements ScoreStore {
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;
  private lastError: Error | undefined;
  private readonly prefix: string;

  private constructor(
    readonly client: RedisClient,
    private readonly options: RedisStoreOptions,
  ) {
    this.prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    client.defineCommand('fgAdd', { numberOfKeys: 1, lua: ADD_SCRIPT });
    client.defineCommand('fgSweep', { numberOfKeys: 1, lua: SWEEP_SCRIPT });
    // Kept for error messages ("Stream isn't writeable" says less than "connect ECONNREFUSED"); a
    // listener is needed anyway, or ioredis prints every reconnection failure to the console.
    const remember = (error: Error): void => {
      this.lastError = error;
    };
    client.on('error', remember);
    if (client instanceof Cluster) client.on('node error', remember);
    // Reported on changes only: ioredis emits 'close' on every failed reconnection attempt.
    let everReady = false;
    let connected = false;
    client.on('ready', () => {
      if (everReady && !connected) options.onConnectionChange?.('ready');
      everReady = connected = true;
    });
    client.on('close', () => {
      if (connected && !this.closed) options.onConnectionChange?.('lost', this.lastError);
      connected = false;
    });
  }

  /** Creates the store and starts connecting; calls fail with StoreError until Redis is ready. */
  static open(options: RedisStoreOptions): RedisStore {
    const prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    // A brace in the prefix would become the hash tag, and keys could no longer be read back from SCAN.
    if (/[{}]/.test(prefix)) throw new RangeError(`redis store: the key prefix must not contain { or }, got ${prefix}`);
    return new RedisStore(createRedisClient(options), options);
  }

  /** Opens the store and waits until Redis answers; StoreError (and nothing left open) if it does not within connectTimeoutMs. */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    const store = RedisStore.open(options);
    try {
      await store.ready();
      return store;
    } catch (error) {
      store.client.disconnect();
      throw error;
    }
  }

  /** Resolves once Redis takes commands; StoreError after connectTimeoutMs. */
  ready(): Promise<void> {
    return waitUntilReady(this.client, this.options.connectTimeoutMs, () => this.lastError);
  }

  /** The Redis key of a score key. */
  redisKey(key: string): string {
    return `${this.prefix}{${key}}`;
  }

  add(key: string, points: number, halfLifeMs: number, now: number, cap?: number): Promise<number> {
    return addOne(this, key, points, halfLifeMs, now, cap);
  }

  async addMany(updates: ReadonlyArray<ScoreUpdate>, now: number): Promise<number[]> {
    const checked = checkedBatch(updates, now);
    if (checked.length === 0) return [];
    return this.call('add', () => {
      const scripts = this.client as unknown as ScriptCommands;
      // Sent back to back on the connection, so a key named twice sees its earlier update.
      return Promise.all(checked.map(({ key, points, halfLifeMs, cap }) => scripts
        .fgAdd(this.redisKey(key), String(now), String(points), String(halfLifeMs), cap === undefined ? '' : String(cap), String(EPSILON), String(MAX_EXPIRES_AT))
        .then(parseLuaNumber)));
    });
  }

  async get(key: string, now: number): Promise<ScoreRecord | undefined> {
    checkKey(key);
    checkNow(now);
    return this.call('get', async () => liveRecord(key, await this.read(this.redisKey(key)), now));
  }

  async delete(key: string): Promise<boolean> {
    checkKey(key);
    return this.call('delete', async () => (await this.client.del(this.redisKey(key))) > 0);
  }

  async top(n: number, now: number, prefix = ''): Promise<ScoreRecord[]> {
    checkTopLimit(n);
    checkNow(now);
    return this.call('top', async () => {
      const top = new TopScores(n);
      await this.scan(prefix, async (redisKeys, node) => {
        const stored = await this.readMany(node, redisKeys);
        redisKeys.forEach((redisKey, i) => {
          const record = liveRecord(this.scoreKey(redisKey), stored[i], now);
          if (record !== undefined) top.offer(record);
        });
      });
      return top.result();
    });
  }

  /**
   * Deletes the hashes expired on the caller's clock. Redis already drops each one when its PEXPIREAT
   * passes, so this finds work only when the caller's clock runs ahead of Redis' (or in tests); it
   * costs a SCAN, and the service does not schedule it.
   */
  async sweep(now: number): Promise<number> {
    checkNow(now);
    return this.call('sweep', async () => {
      let removed = 0;
      const scripts = this.client as unknown as ScriptCommands;
      await this.scan('', async (redisKeys) => {
        const results = await Promise.all(redisKeys.map((redisKey) => scripts.fgSweep(redisKey, String(now))));
        removed += results.reduce((sum, r) => sum + Number(r), 0);
      });
      return removed;
    });
  }

  /** Hashes under the prefix, live or not yet expired by Redis: a SCAN, like top(). */
  async size(): Promise<number> {
    return this.call('size', async () => {
      let count = 0;
      await this.scan('', async (redisKeys) => {
        count += redisKeys.length;
      });
      return count;
    });
  }

  /** Waits for calls in flight, then closes the connections; later calls reject with StoreError. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    // QUIT lets Redis finish what it has; when Redis is unreachable there is nothing to finish.
    if (this.client.status === 'ready') await this.client.quit().catch(() => undefined);
    this.client.disconnect();
  }

  private scoreKey(redisKey: string): string {
    return redisKey.slice(this.prefix.length + 1, -1);
  }

  private async read(redisKey: string): Promise<StoredScore | undefined> {
    return decodeFields(await this.client.hmget(redisKey, 's', 't', 'h', 'e'));
  }

  /**
   * Reads a SCAN batch in one pipeline on the primary that holds it (a third of the time of one call
   * per key). A key that moved meanwhile (Cluster resharding: MOVED) is read again through the client.
   */
  private async readMany(node: Redis, redisKeys: string[]): Promise<Array<StoredScore | undefined>> {
    const replies = (await node.pipeline(redisKeys.map((key) => ['hmget', key, 's', 't', 'h', 'e'])).exec()) ?? [];
    return Promise.all(redisKeys.map((key, i) => {
      const [error, fields] = replies[i] ?? [new Error('no reply')];
      return error ? this.read(key) : decodeFields(fields as Array<string | null>);
    }));
  }

  /** Calls `batch` with the Redis keys of the scores whose key starts with `keyPrefix`, a SCAN step at a time, on every primary. */
  private async scan(keyPrefix: string, batch: (redisKeys: string[], node: Redis) => Promise<void>): Promise<void> {
    const start = `${this.prefix}{${keyPrefix}`;
    const pattern = `${escapeGlob(start)}*`;
    const primaries = this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
    await Promise.all(primaries.map(async (node) => {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
        cursor = next;
        // SCAN may return a key twice (rehashing) and the glob cannot say "ends with }": filter here.
        const ours = [...new Set(keys)].filter((k) => k.startsWith(start) && k.endsWith('}'));
        if (ours.length > 0) await batch(ours, node);
      } while (cursor !== '0');
    }));
  }

  /** Runs a Redis call: refused once closed, failures turned into StoreError, tracked so close() can wait for it. */
  private async call<T>(what: string, task: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreError('score store: the Redis store is closed');
    const running = task();
    this.inFlight.add(running);
    try {
      return await running;
    } catch (error) {
      throw this.storeError(error, what);
    } finally {
      this.inFlight.delete(running);
    }
  }

  private storeError(error: unknown, what: string): StoreError {
    const message = error instanceof Error ? error.message : String(error);
    // ioredis says only that it has no connection; the reason is the connection's last error.
    if (/isn't writeable|isn't ready|Connection is closed/.test(message)) {
      return new StoreError(`score store: ${what} failed: Redis is unreachable (${this.lastError?.message ?? 'connection closed'})`, { cause: error });
    }
    return toStoreError(error, `Redis ${what}`);
  }
}

function decodeFields([s, t, h, e]: Array<string | null>): StoredScore | undefined {
  if (s == null || t == null || h == null || e == null) return undefined;
  return { score: parseLuaNumber(s), updatedAt: Number(t), halfLifeMs: Number(h), expiresAt: Number(e) };
}

/** A %.17g number from Lua: 'inf' and 'nan' are C's spellings, not JavaScript's. */
export function parseLuaNumber(text: string): number {
  if (/^-?inf/i.test(text)) return text.startsWith('-') ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  if (/nan/i.test(text)) return Number.NaN;
  return Number(text);
}

/** Escapes Redis glob characters, so a prefix such as `ip:[` matches only itself. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
