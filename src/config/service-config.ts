// The service configuration file (floodgate.yml): schema, defaults, and conversion to typed settings.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from './errors';
import { durationMs, durationSchema } from './duration';
import { compileSchema, loadYaml } from './yaml-source';

type Duration = number | string;

/** The file as written; every field optional, defaults below. */
interface ConfigFile {
  listen?: string;
  socket?: { mode?: string; owner?: string; group?: string };
  limits?: {
    max_connections?: number;
    max_frame_bytes?: number;
    frame_timeout?: Duration;
    idle_timeout?: Duration;
    max_delay?: Duration;
    progress_interval?: Duration;
    shutdown_grace?: Duration;
  };
  on_handler_error?: 'tempfail' | 'accept' | 'continue';
  rules?: string;
  state_dir?: string;
  store?: { backend?: 'level' | 'memory'; timeout?: Duration };
  on_store_error?: 'tempfail' | 'accept';
  admin_socket?: string;
  mta_timeout?: Duration;
  log?: { level?: 'error' | 'warn' | 'info' | 'debug'; format?: 'json' | 'text' };
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
  /** Rules file; undefined means the shipped default (the CLI resolves it). */
  rulesFile: string | undefined;
  stateDir: string;
  storeBackend: 'level' | 'memory';
  storeTimeoutMs: number;
  onStoreError: 'tempfail' | 'accept';
  adminSocket: string;
  /** The MTA's milter timeout, which tarpit delays must stay under (check-rules warns). */
  mtaTimeoutMs: number;
  log: { level: 'error' | 'warn' | 'info' | 'debug'; format: 'json' | 'text' };
}

export const DEFAULT_LISTEN = 'inet:127.0.0.1:8895';

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
    rules: { type: 'string', minLength: 1 },
    state_dir: { type: 'string', minLength: 1 },
    store: {
      type: 'object',
      additionalProperties: false,
      properties: { backend: { enum: ['level', 'memory'] }, timeout: durationSchema },
    },
    on_store_error: { enum: ['tempfail', 'accept'] },
    admin_socket: { type: 'string', minLength: 1 },
    mta_timeout: durationSchema,
    log: {
      type: 'object',
      additionalProperties: false,
      properties: {
        level: { enum: ['error', 'warn', 'info', 'debug'] },
        format: { enum: ['json', 'text'] },
      },
    },
  },
} as const;

const validate = compileSchema<ConfigFile>(schema);

/** Parses and validates configuration text; throws ConfigError listing every problem. */
export function parseServiceConfig(text: string, file: string): ServiceConfig {
  const raw = loadYaml(text, file, validate);
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
    rulesFile: raw.rules === undefined ? undefined : resolve(base, raw.rules),
    stateDir,
    storeBackend: raw.store?.backend ?? 'level',
    storeTimeoutMs: durationMs(raw.store?.timeout ?? '2s'),
    // A rate limiter that cannot count should not stop the mail: accept unless told otherwise.
    onStoreError: raw.on_store_error ?? 'accept',
    adminSocket: resolve(stateDir, raw.admin_socket ?? 'admin.sock'),
    mtaTimeoutMs: durationMs(raw.mta_timeout ?? '30s'),
    log: { level: raw.log?.level ?? 'info', format: raw.log?.format ?? 'json' },
  };
  return Object.freeze({ ...config, socket: Object.freeze(config.socket), log: Object.freeze(config.log) });
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
