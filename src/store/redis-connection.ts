// Builds the ioredis client for the Redis store (one server, Sentinel or Cluster) and waits for it to be ready.
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import Redis, { Cluster, SentinelConnector, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { ErrorEmitter } from 'ioredis/built/connectors/AbstractConnector';
import StandaloneConnector from 'ioredis/built/connectors/StandaloneConnector';
import type { NetStream } from 'ioredis/built/types';
import { StoreError } from './errors';

export interface RedisConnectionOptions {
  /** One server: redis://[user[:password]@]host[:port][/db], or rediss:// for TLS. */
  url?: string;
  /** Redis Cluster: some of its nodes as URLs (rediss:// for TLS); the others are discovered. */
  clusterNodes?: ReadonlyArray<string>;
  /** Redis Sentinel: the name of the monitored primary and the sentinels' URLs. */
  sentinel?: { name: string; nodes: ReadonlyArray<string>; password?: string };
  /** ACL user and password; they override those in the URLs. */
  username?: string;
  password?: string;
  /** Extra TLS settings (CA, client certificate, server name); TLS itself is on with rediss:// URLs. */
  tls?: ConnectionOptions;
  connectTimeoutMs: number;
  /** Each command rejects after this long, so a hung server never holds a session. */
  commandTimeoutMs: number;
}

export type RedisClient = Redis | Cluster;

/** A parsed redis:// or rediss:// URL. */
export interface RedisAddress {
  host: string;
  port: number;
  tls: boolean;
  db?: number;
  username?: string;
  password?: string;
}

/** Parses and checks a Redis URL; a RangeError names what is wrong (config validation reports it). */
export function parseRedisUrl(url: string): RedisAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RangeError(`not a URL: ${url}`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new RangeError(`${url}: the scheme must be redis:// or rediss://`);
  if (parsed.hostname === '') throw new RangeError(`${url}: no host`);
  const path = parsed.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d+$/.test(path)) throw new RangeError(`${url}: the path must be a database number`);
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    tls: parsed.protocol === 'rediss:',
    ...(path === '' ? {} : { db: Number(path) }),
    ...(parsed.username === '' ? {} : { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password === '' ? {} : { password: decodeURIComponent(parsed.password) }),
  };
}

/**
 * ioredis listens for a socket's first 'error' only (`once`). A TLS socket can emit a second one (an
 * alert from the server while the connection is torn down), which would be an uncaught exception and
 * stop the service. These connectors keep a listener on every socket; ioredis still sees the first error.
 *
 * `Connector` is a public option of ioredis, but StandaloneConnector is not exported from its package
 * root (only SentinelConnector is), and ioredis offers no public hook on its sockets. So package.json
 * pins ioredis to one exact version, and test/unit/store/redis-connection.test.ts fails if the private
 * module moves or stops being the connector ioredis uses by default: re-check this on every upgrade.
 */
class GuardedConnector extends StandaloneConnector {
  override async connect(emitter: ErrorEmitter): Promise<NetStream> {
    return guard(await super.connect(emitter));
  }
}

class GuardedSentinelConnector extends SentinelConnector {
  override async connect(emitter: ErrorEmitter): Promise<NetStream> {
    return guard(await super.connect(emitter));
  }
}

/** ioredis types the constructor's options as unknown, which a subclass's typed options cannot widen to. */
type Connector = NonNullable<RedisOptions['Connector']>;

function guard(stream: NetStream): NetStream {
  stream.on('error', () => undefined);
  return stream;
}

/** Reconnects forever, backing off to once a second: Redis coming back must be noticed soon. */
const retryDelay = (attempt: number): number => Math.min(attempt * 100, 1000);

/**
 * The options that keep an outage bounded: no offline queue (a call while disconnected fails at
 * once, and the outage policy answers), no retry of a command whose connection broke (it may have
 * run; resending it after the caller gave up could count its points twice), and a command timeout.
 */
function commonOptions(options: RedisConnectionOptions): RedisOptions {
  return {
    connectTimeout: options.connectTimeoutMs,
    commandTimeout: options.commandTimeoutMs,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // ioredis arms this on disconnect() even for a socket that already failed, holding the process 2 s by default.
    disconnectTimeout: 200,
    enableAutoPipelining: true,
    Connector: GuardedConnector as Connector,
    ...(options.username === undefined ? {} : { username: options.username }),
    ...(options.password === undefined ? {} : { password: options.password }),
  };
}

function tlsFor(address: RedisAddress, options: RedisConnectionOptions): { tls?: ConnectionOptions } {
  if (!address.tls && !options.tls) return {};
  // SNI carries names only: Node warns (DEP0123) when given an IP, and checks the IP against the certificate anyway.
  return { tls: { ...(isIP(address.host) ? {} : { servername: address.host }), ...options.tls } };
}

function auth(address: RedisAddress): Pick<RedisOptions, 'username' | 'password'> {
  return { ...(address.username === undefined ? {} : { username: address.username }), ...(address.password === undefined ? {} : { password: address.password }) };
}

/** Creates the client; it connects in the background (see waitUntilReady) and reconnects by itself. */
export function createRedisClient(options: RedisConnectionOptions): RedisClient {
  const chosen = [options.url, options.clusterNodes, options.sentinel].filter((x) => x !== undefined).length;
  if (chosen !== 1) throw new RangeError('redis store: give exactly one of url, clusterNodes or sentinel');
  if (options.clusterNodes !== undefined) {
    const nodes = options.clusterNodes.map(parseRedisUrl);
    if (nodes.length === 0) throw new RangeError('redis store: clusterNodes is empty');
    const clusterOptions: ClusterOptions = {
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      clusterRetryStrategy: retryDelay,
      slotsRefreshTimeout: options.connectTimeoutMs,
      // A failover or resharding answers MOVED/TRYAGAIN for a moment; a few quick retries ride it out.
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      maxRedirections: 8,
      // Every node shares the first URL's credentials and TLS setting: one cluster, one way in.
      redisOptions: { ...auth(nodes[0]!), ...commonOptions(options), ...tlsFor(nodes[0]!, options) },
    };
    return new Cluster(nodes.map(({ host, port }) => ({ host, port })), clusterOptions);
  }
  if (options.sentinel !== undefined) {
    const sentinels = options.sentinel.nodes.map(parseRedisUrl);
    if (sentinels.length === 0) throw new RangeError('redis store: sentinel.nodes is empty');
    return new Redis({
      ...commonOptions(options),
      enableOfflineQueue: false,
      retryStrategy: retryDelay,
      Connector: GuardedSentinelConnector as Connector,
      sentinels: sentinels.map(({ host, port }) => ({ host, port })),
      name: options.sentinel.name,
      ...(options.sentinel.password === undefined ? {} : { sentinelPassword: options.sentinel.password }),
      ...(sentinels[0]!.tls ? { enableTLSForSentinelMode: true, sentinelTLS: { ...options.tls } } : {}),
      ...(options.tls ? { tls: options.tls } : {}),
    });
  }
  const address = parseRedisUrl(options.url!);
  return new Redis({
    host: address.host,
    port: address.port,
    ...(address.db === undefined ? {} : { db: address.db }),
    ...auth(address),
    ...commonOptions(options),
    ...tlsFor(address, options),
    enableOfflineQueue: false,
    retryStrategy: retryDelay,
  });
}

/** Resolves once the client can take commands; StoreError after `ms`, naming the last connection error. */
export function waitUntilReady(client: RedisClient, ms: number, lastError: () => Error | undefined): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      const why = lastError()?.message ?? `status ${client.status}`;
      reject(new StoreError(`score store: Redis was not ready within ${ms} ms: ${why}`));
    }, ms);
    const onReady = (): void => {
      clearTimeout(timer);
      resolve();
    };
    client.once('ready', onReady);
  });
}
