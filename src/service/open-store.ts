// Opens the configured score store (LevelDB in the state directory, Redis, or memory) with its call timeout and outage policy.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { RedisSettings, ServiceConfig } from '../config/service-config';
import type { Logger } from '../log/logger';
import { FallbackStore } from '../store/fallback-store';
import { trimMallocHeap } from '../native/malloc';
import { LevelStore } from '../store/level-store';
import { MemoryStore } from '../store/memory-store';
import { RedisStore, type RedisStoreOptions } from '../store/redis-store';
import { StoreError, type ScoreStore } from '../store/score-store';
import { withTimeout } from '../store/timeout-store';

/** How long a whole-keyspace scan (top, size, sweep) may take on Redis. */
const SCAN_TIMEOUT_MS = 60_000;

/**
 * With a logger (the service), LevelDB also gets its background sweeper, a Redis that is down at start
 * does not stop the service (on_store_error answers until it is up), and on_store_error: local wraps
 * the store in local counters. The CLI opens the store without: it wants the store itself, or its error.
 */
export async function openStore(config: ServiceConfig, logger?: Logger): Promise<ScoreStore> {
  const store = await openBackend(config, logger);
  if (config.storeFallback !== 'local' || !logger) return store;
  return new FallbackStore(store, {
    onFallback: (error) => logger.error('score store failed, counting locally until it answers (on_store_error: local)', { code: error.code, error: error.message }),
    onRecover: () => logger.warn('score store answers again, local counts dropped'),
  });
}

async function openBackend(config: ServiceConfig, logger?: Logger): Promise<ScoreStore> {
  if (config.storeBackend === 'memory') return withTimeout(new MemoryStore(), config.storeTimeoutMs);
  if (config.storeBackend === 'redis') return withScanTimeout(await openRedis(config, logger), config.storeTimeoutMs);
  const store = await LevelStore.open(`${config.stateDir}/scores`);
  if (logger && store.droppedOnOpen.length > 0) {
    // LevelDB opened the directory by skipping damaged log records: the scores in them are gone, say so once.
    logger.warn('score store: LevelDB skipped damaged records while opening; their scores are lost', {
      code: 'FG_ERR_STORE_DAMAGED', directory: store.directory, leveldb_log: store.droppedOnOpen.slice(0, 5),
    });
  }
  if (logger) {
    store.startSweeper({
      intervalMs: config.storeSweepIntervalMs,
      // `records`: what stays stored, so a log shows whether the live keys are bounded (bench/milter-load/soak.ts reads it).
      onSweep: (removed, elapsedMs) => {
        if (removed === 0) return;
        // The sweep's burst of work on LevelDB's threads leaves freed memory in glibc's arenas: give it back.
        const trimStarted = performance.now();
        trimMallocHeap();
        const trimMs = Math.round((performance.now() - trimStarted) * 10) / 10;
        void store.size().catch(() => undefined).then((records) => {
          logger.info('expired scores swept', { removed, records, elapsed_ms: Math.round(elapsedMs), trim_ms: trimMs, rss_mib: Math.round(process.memoryUsage.rss() / 1048576) });
        });
      },
      onError: (error) => logger.error('sweeping expired scores failed', { error: String((error as Error).message ?? error) }),
    });
  }
  return withTimeout(store, config.storeTimeoutMs);
}

/**
 * Calls on the mail path answer within store.timeout. top(), size() and sweep() SCAN the whole
 * keyspace (several seconds per million keys on Redis), so the operator's `floodgate scores top` gets
 * a minute; each Redis command in them still has the short command timeout.
 */
function withScanTimeout(store: ScoreStore, ms: number): ScoreStore {
  const scans = withTimeout(store, Math.max(ms, SCAN_TIMEOUT_MS));
  return { ...withTimeout(store, ms), top: scans.top, size: scans.size, sweep: scans.sweep };
}

/** Redis expires scores itself (PEXPIREAT), so no sweeper runs for it. */
async function openRedis(config: ServiceConfig, logger?: Logger): Promise<RedisStore> {
  const store = RedisStore.open({
    ...redisOptions(config.redis!, config.storeTimeoutMs),
    ...(logger ? {
      onConnectionChange: (state: 'lost' | 'ready', error?: Error) => (state === 'lost'
        ? logger.warn('score store: Redis connection lost, reconnecting', { redis: describe(config.redis!), ...(error ? { error: error.message } : {}) })
        : logger.info('score store: Redis connection ready again', { redis: describe(config.redis!) })),
    } : {}),
  });
  try {
    await store.ready();
    logger?.info('score store: Redis ready', { redis: describe(config.redis!) });
  } catch (error) {
    if (!logger) {
      await store.close();
      throw error;
    }
    // An MX host that boots before Redis must still serve mail; ioredis keeps reconnecting.
    logger.error('score store: Redis is not reachable at start; on_store_error applies until it answers', { redis: describe(config.redis!), error: (error as Error).message });
  }
  return store;
}

export function redisOptions(settings: RedisSettings, commandTimeoutMs: number): RedisStoreOptions {
  const read = (what: string, path: string | undefined): Buffer | undefined => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (error) {
      throw new StoreError(`score store: cannot read store.redis.tls.${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  };
  const tls = settings.tls && {
    ...(settings.tls.caFile ? { ca: read('ca_file', settings.tls.caFile) } : {}),
    ...(settings.tls.certFile ? { cert: read('cert_file', settings.tls.certFile) } : {}),
    ...(settings.tls.keyFile ? { key: read('key_file', settings.tls.keyFile) } : {}),
  };
  const where = settings.cluster
    ? { clusterNodes: settings.urls }
    : settings.sentinel
      ? { sentinel: { name: settings.sentinel.name, nodes: settings.urls, ...(settings.sentinel.password === undefined ? {} : { password: settings.sentinel.password }) } }
      : { url: settings.urls[0]! };
  return {
    ...where,
    keyPrefix: settings.keyPrefix,
    connectTimeoutMs: settings.connectTimeoutMs,
    commandTimeoutMs,
    ...(settings.username === undefined ? {} : { username: settings.username }),
    ...(settings.password === undefined ? {} : { password: settings.password }),
    ...(tls ? { tls } : {}),
  };
}

/** For logs: where Redis is, without credentials. */
function describe(settings: RedisSettings): string {
  const mode = settings.cluster ? 'cluster ' : settings.sentinel ? `sentinel ${settings.sentinel.name} via ` : '';
  return mode + settings.urls.map((url) => url.replace(/\/\/[^@/]*@/, '//')).join(',');
}
