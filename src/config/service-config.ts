// The service configuration file (floodgate.yml): schema (and the file's type, derived from it), defaults, typed settings.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { ConfigError } from './errors';
import { durationMs, durationSchema } from './duration';
import type { FromSchema } from 'json-schema-to-ts';
import { httpConfig, httpSchema, type HttpConfig } from './http-config';
import { compileSchema, YamlSource } from './yaml-source';

/** How to reach Redis (store.backend: redis); see RedisStoreOptions. */
export interface RedisSettings {
  /** One server's URL; with `cluster`, seed nodes; with `sentinel`, the sentinels. */
  urls: string[];
  cluster: boolean;
  sentinel?: { name: string; password?: string };
  username?: string;
  password?: string;
  keyPrefix: string;
  connectTimeoutMs: number;
  /** Absolute paths of PEM files; TLS itself is on with rediss:// URLs. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

export interface ServiceConfig {
  /** Where the configuration was read from ('(defaults)' when no file was given). */
  source: string;
  listen: string;
  socket: { mode: number; owner?: string; group?: string };
  maxConnections: number;
  maxFrameBytes: number;
  frameTimeoutMs: number;
  idleTimeoutMs: number;
  maxDelayMs: number;
  progressIntervalMs: number;
  shutdownGraceMs: number;
  onHandlerError: 'tempfail' | 'accept' | 'continue';
  /** Linux, TCP: ACK unanswered packets at once (removes Sendmail's delayed-ACK stall). */
  tcpQuickAck: boolean;
  /** Rules file; undefined means the shipped default (the CLI resolves it). */
  rulesFile: string | undefined;
  stateDir: string;
  storeBackend: 'level' | 'memory' | 'redis';
  storeTimeoutMs: number;
  /** LevelDB: how often expired records are removed from the disk. */
  storeSweepIntervalMs: number;
  /** Set when store.backend is redis. */
  redis: RedisSettings | undefined;
  /** What the milter answers when the store fails (with on_store_error: local, only if local counting fails too). */
  onStoreError: 'tempfail' | 'accept';
  /** on_store_error: local: count in process memory while the store fails. */
  storeFallback: 'local' | undefined;
  adminSocket: string;
  /** The MTA's milter timeout, which tarpit delays must stay under (check-rules warns). */
  mtaTimeoutMs: number;
  dns: DnsConfig;
  /** The status page, /metrics, /healthz and /readyz. */
  http: HttpConfig;
  /** The tracking log (issue 16): a record of every message and of every session without one. */
  tracking: TrackingConfig;
  /** observe: every answer is logged and counted as what Floodgate would do, and none is given. */
  mode: 'enforce' | 'observe';
  /** auto: text on a terminal, JSON anywhere else. */
  log: { level: 'error' | 'warn' | 'info' | 'debug'; format: 'json' | 'text' | 'auto' };
}

export interface TrackingConfig {
  /** sqlite: a file under state_dir (tracking.sqlite); postgres: a shared server; off. */
  backend: 'sqlite' | 'postgres' | 'off';
  /** postgres: the connection URL (postgres://user:password@host:port/db). */
  url: string | undefined;
  keepMs: number;
  /** The SQLite file is pruned, oldest first, to stay under this. */
  maxBytes: number;
  /** Record each read message's Subject (off by default: subjects are personal data). */
  subject: boolean;
  /** Tracking copies (the rules' `track:` entries): where, how big, how long. */
  copies: { dir: string; maxMessageBytes: number; maxTotalBytes: number; keepMs: number };
}

/** The resolver DNS list and reverse-DNS rules query. */
export interface DnsConfig {
  /** Name servers as "address" or "address:port" ("[v6]:port"); undefined: the system's (/etc/resolv.conf). */
  servers: readonly string[] | undefined;
  /** Longest wait for one check (all lists in parallel, or PTR plus forward lookups) before it counts as timed out. */
  timeoutMs: number;
  /** Answers kept (positive and negative), least recently used dropped first. */
  cacheSize: number;
}

export const DEFAULT_LISTEN = 'inet:127.0.0.1:8895';

const redisUrl = { type: 'string', pattern: '^rediss?://[^\\s/]+(/[0-9]*)?$' } as const;
const redisSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['url'],
  properties: {
    url: { oneOf: [redisUrl, { type: 'array', items: redisUrl, minItems: 1 }] },
    cluster: { type: 'boolean' },
    sentinel: {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      properties: { name: { type: 'string', minLength: 1 }, password: { type: 'string' } },
    },
    username: { type: 'string', minLength: 1 },
    password: { type: 'string' },
    // Braces would become the Cluster hash tag.
    key_prefix: { type: 'string', pattern: '^[^{}]*$' },
    connect_timeout: durationSchema,
    tls: {
      type: 'object',
      additionalProperties: false,
      properties: { ca_file: { type: 'string', minLength: 1 }, cert_file: { type: 'string', minLength: 1 }, key_file: { type: 'string', minLength: 1 } },
    },
  },
  // Cluster and Sentinel are two ways to find the servers, not one.
  if: { properties: { sentinel: true }, required: ['sentinel'] },
  then: { properties: { cluster: { enum: [false] } } },
} as const;

const schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    listen: { type: 'string', minLength: 1 },
    socket: {
      type: 'object',
      additionalProperties: false,
      properties: {
        mode: { type: 'string', pattern: '^0?[0-7]{3}$' },
        owner: { type: 'string', minLength: 1 },
        group: { type: 'string', minLength: 1 },
      },
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      properties: {
        max_connections: { type: 'integer', minimum: 1 },
        // Postfix sends a header as one packet (header_size_limit 102400): never below 128 KiB.
        max_frame_bytes: { type: 'integer', minimum: 131072, maximum: 67108864 },
        frame_timeout: durationSchema,
        idle_timeout: durationSchema,
        max_delay: durationSchema,
        progress_interval: durationSchema,
        shutdown_grace: durationSchema,
      },
    },
    on_handler_error: { enum: ['tempfail', 'accept', 'continue'] },
    tcp_quickack: { type: 'boolean' },
    rules: { type: 'string', minLength: 1 },
    state_dir: { type: 'string', minLength: 1 },
    store: {
      type: 'object',
      additionalProperties: false,
      properties: { backend: { enum: ['level', 'memory', 'redis'] }, timeout: durationSchema, sweep_interval: durationSchema, redis: redisSchema },
      // "missing field "redis" in store" rather than a failure to connect to a default address.
      if: { properties: { backend: { const: 'redis' } }, required: ['backend'] },
      then: { properties: { redis: true }, required: ['redis'] },
    },
    on_store_error: { enum: ['tempfail', 'accept', 'local'] },
    admin_socket: { type: 'string', minLength: 1 },
    mta_timeout: durationSchema,
    dns: {
      type: 'object',
      additionalProperties: false,
      properties: {
        // An address with an optional port: 192.0.2.53, 192.0.2.53:5353, 2001:db8::53, [2001:db8::53]:5353.
        servers: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^(\\[[0-9A-Fa-f:.]+\\](:[0-9]{1,5})?|[0-9A-Fa-f:.]+)$' } },
        timeout: durationSchema,
        cache_size: { type: 'integer', minimum: 0 },
      },
    },
    http: httpSchema,
    tracking: {
      type: 'object',
      additionalProperties: false,
      properties: {
        backend: { enum: ['sqlite', 'postgres', 'off'] },
        url: { type: 'string', pattern: '^postgres(ql)?://' },
        keep: durationSchema,
        max_size_mb: { type: 'integer', minimum: 1 },
        subject: { type: 'boolean' },
        copies: {
          type: 'object',
          additionalProperties: false,
          properties: { dir: { type: 'string', minLength: 1 }, max_message_mb: { type: 'number', exclusiveMinimum: 0 }, max_total_mb: { type: 'number', exclusiveMinimum: 0 }, keep: durationSchema },
        },
      },
      // "missing field "url" in tracking" rather than a connection to a default address.
      if: { properties: { backend: { const: 'postgres' } }, required: ['backend'] },
      then: { properties: { url: true }, required: ['url'] },
    },
    mode: { enum: ['enforce', 'observe'] },
    log: {
      type: 'object',
      additionalProperties: false,
      properties: {
        level: { enum: ['error', 'warn', 'info', 'debug'] },
        format: { enum: ['json', 'text', 'auto'] },
      },
    },
  },
} as const;

/**
 * The file as written, derived from the schema above (json-schema-to-ts), so the two cannot disagree:
 * every field optional, defaults below.
 */
type ConfigFile = FromSchema<typeof schema>;
type RedisFile = NonNullable<NonNullable<ConfigFile['store']>['redis']>;

const validate = compileSchema<ConfigFile>(schema);

/** Parses and validates configuration text; throws ConfigError listing every problem. */
export function parseServiceConfig(text: string, file: string): ServiceConfig {
  const source = file === '(defaults)' ? undefined : new YamlSource(file, text);
  const raw = source ? source.validated(validate) : {};
  const limits = raw.limits ?? {};
  // Relative paths are relative to the configuration file, not to wherever the service was started.
  const base = file === '(defaults)' ? process.cwd() : dirname(resolve(file));
  const stateDir = resolve(base, raw.state_dir ?? process.env.STATE_DIRECTORY ?? 'state');
  const config: ServiceConfig = {
    source: file,
    listen: raw.listen ?? DEFAULT_LISTEN,
    socket: { mode: parseInt(raw.socket?.mode ?? '0660', 8), owner: raw.socket?.owner, group: raw.socket?.group },
    maxConnections: limits.max_connections ?? 1000,
    maxFrameBytes: limits.max_frame_bytes ?? 1024 * 1024,
    frameTimeoutMs: durationMs(limits.frame_timeout ?? '30s'),
    // libmilter's default; MTAs hold the socket open through long DATA transfers.
    idleTimeoutMs: durationMs(limits.idle_timeout ?? '7210s'),
    // Below Postfix's 30 s milter_command_timeout; lower it to under Sendmail's T=R: value.
    maxDelayMs: durationMs(limits.max_delay ?? '25s'),
    // Below Sendmail's default 10 s read timeout, which progress restarts at end of message.
    // (never under 1 s: a zero interval would flood the MTA with progress packets).
    progressIntervalMs: Math.max(1000, durationMs(limits.progress_interval ?? '5s')),
    shutdownGraceMs: durationMs(limits.shutdown_grace ?? '30s'),
    onHandlerError: raw.on_handler_error ?? 'tempfail',
    tcpQuickAck: raw.tcp_quickack ?? true,
    rulesFile: raw.rules === undefined ? undefined : resolve(base, raw.rules),
    stateDir,
    storeBackend: raw.store?.backend ?? 'level',
    storeTimeoutMs: durationMs(raw.store?.timeout ?? '2s'),
    // At least 1 s: a sweep walks the expiry index from its start, so back-to-back sweeps would only repeat work.
    storeSweepIntervalMs: Math.max(1000, durationMs(raw.store?.sweep_interval ?? '60s')),
    redis: raw.store?.backend === 'redis' && raw.store.redis ? redisSettings(raw.store.redis, base, file) : undefined,
    // A rate limiter that cannot count should not stop the mail: accept unless told otherwise.
    onStoreError: raw.on_store_error === 'tempfail' ? 'tempfail' : 'accept',
    storeFallback: raw.on_store_error === 'local' ? 'local' : undefined,
    adminSocket: resolve(stateDir, raw.admin_socket ?? 'admin.sock'),
    mtaTimeoutMs: durationMs(raw.mta_timeout ?? '30s'),
    dns: dnsConfig(raw.dns ?? {}, file),
    http: httpConfig(raw.http, source),
    tracking: Object.freeze({
      backend: raw.tracking?.backend ?? 'sqlite',
      url: raw.tracking?.url,
      // A week answers "why was my mail refused last Tuesday"; a longer memory is personal data kept longer.
      keepMs: durationMs(raw.tracking?.keep ?? '7d'),
      maxBytes: (raw.tracking?.max_size_mb ?? 1024) * 1024 * 1024,
      subject: raw.tracking?.subject ?? false,
      copies: Object.freeze({
        dir: resolve(stateDir, raw.tracking?.copies?.dir ?? 'copies'),
        maxMessageBytes: Math.round((raw.tracking?.copies?.max_message_mb ?? 10) * 1024 * 1024),
        maxTotalBytes: Math.round((raw.tracking?.copies?.max_total_mb ?? 1024) * 1024 * 1024),
        keepMs: durationMs(raw.tracking?.copies?.keep ?? '7d'),
      }),
    }),
    mode: raw.mode ?? 'enforce',
    log: { level: raw.log?.level ?? 'info', format: raw.log?.format ?? 'auto' },
  };
  if (config.dns.timeoutMs >= config.mtaTimeoutMs) {
    throw new ConfigError([{ file, line: 0, column: 0, message: `dns.timeout (${config.dns.timeoutMs} ms) must be shorter than mta_timeout (${config.mtaTimeoutMs} ms): the MTA would give up on the milter first` }]);
  }
  return Object.freeze({ ...config, socket: Object.freeze(config.socket), dns: Object.freeze(config.dns), log: Object.freeze(config.log) });
}

function dnsConfig(raw: NonNullable<ConfigFile['dns']>, source: string): DnsConfig {
  for (const server of raw.servers ?? []) {
    if (!isIP(server) && !isIP(server.replace(/^\[(.*)\]:[0-9]+$/, '$1').replace(/^([0-9.]+):[0-9]+$/, '$1'))) {
      throw new ConfigError([{ file: source, line: 0, column: 0, message: `dns.servers: "${server}" is not an IP address with an optional port` }]);
    }
  }
  return {
    servers: raw.servers === undefined ? undefined : Object.freeze([...raw.servers]),
    // Spamhaus and postscreen work with answers well under a second; 2 s leaves room for one retry inside.
    timeoutMs: durationMs(raw.timeout ?? '2s'),
    cacheSize: raw.cache_size ?? 50_000,
  };
}

function redisSettings(raw: RedisFile, base: string, source: string): RedisSettings {
  const file = (path: string | undefined): string | undefined => (path === undefined ? undefined : resolve(base, path));
  if (Array.isArray(raw.url) && raw.url.length > 1 && !raw.cluster && !raw.sentinel) {
    throw new ConfigError([{ file: source, line: 0, column: 0, message: 'store.redis.url lists several servers: set cluster: true (Cluster seed nodes) or sentinel (the sentinels)' }]);
  }
  return Object.freeze({
    urls: typeof raw.url === 'string' ? [raw.url] : [...raw.url],
    cluster: raw.cluster ?? false,
    ...(raw.sentinel ? { sentinel: { ...raw.sentinel } } : {}),
    ...(raw.username === undefined ? {} : { username: raw.username }),
    ...(raw.password === undefined ? {} : { password: raw.password }),
    keyPrefix: raw.key_prefix ?? 'floodgate:',
    connectTimeoutMs: durationMs(raw.connect_timeout ?? '2s'),
    ...(raw.tls ? { tls: { caFile: file(raw.tls.ca_file), certFile: file(raw.tls.cert_file), keyFile: file(raw.tls.key_file) } } : {}),
  });
}

export function loadServiceConfig(file: string | undefined): ServiceConfig {
  if (file === undefined) return parseServiceConfig('', '(defaults)');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError([{ file, line: 0, column: 0, message: `cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}` }]);
  }
  return parseServiceConfig(text, file);
}
