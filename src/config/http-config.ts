// The `http:` section of floodgate.yml: where the status page and /metrics listen, and who may use them.
import { isIP } from 'node:net';
import { ConfigError } from './errors';
import type { YamlSource } from './yaml-source';

export type HttpListen = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export interface HttpAuth {
  /** Bearer tokens, as written (each at least 32 characters: they stand in for a password). */
  tokens: readonly string[];
  /** User name → scrypt hash, as `floodgate hash-password` prints it. */
  users: ReadonlyMap<string, string>;
}

export interface HttpConfig {
  /** undefined: `listen: off`. */
  listen: HttpListen | undefined;
  auth: HttpAuth | undefined;
}

export const DEFAULT_HTTP_LISTEN = '127.0.0.1:8899';

/** `$scrypt$N=<cost>,r=<block size>,p=<parallelism>$<salt, base64>$<hash, base64>`. */
export const PASSWORD_HASH_PATTERN = '^\\$scrypt\\$N=[0-9]+,r=[0-9]+,p=[0-9]+\\$[A-Za-z0-9+/]+=*\\$[A-Za-z0-9+/]+=*$';

export const httpSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    listen: { type: 'string', minLength: 1 },
    auth: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        tokens: { type: 'array', minItems: 1, items: { type: 'string', minLength: 32 } },
        users: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'password_hash'],
            properties: { name: { type: 'string', pattern: '^[^:\\s]+$' }, password_hash: { type: 'string', pattern: PASSWORD_HASH_PATTERN } },
          },
        },
      },
    },
  },
} as const;

interface HttpFile {
  listen?: string;
  auth?: { tokens?: readonly string[]; users?: ReadonlyArray<{ name: string; password_hash: string }> };
}

/**
 * Reads the section; a listener reachable from other hosts without `auth` is refused, with the
 * position of its `listen:` (the page shows who is sending mail, and can reset keys).
 */
export function httpConfig(raw: HttpFile | undefined, source: YamlSource | undefined): HttpConfig {
  const spec = raw?.listen ?? DEFAULT_HTTP_LISTEN;
  const at = () => source?.locate(['http', 'listen']) ?? { file: '(defaults)', line: 0, column: 0 };
  const listen = spec === 'off' ? undefined : parseHttpListen(spec, (message) => new ConfigError([{ ...at(), message }]));
  const users = new Map<string, string>();
  for (const user of raw?.auth?.users ?? []) {
    if (users.has(user.name)) throw new ConfigError([{ ...at(), message: `http.auth.users: "${user.name}" is listed twice` }]);
    users.set(user.name, user.password_hash);
  }
  const auth = raw?.auth ? { tokens: Object.freeze([...(raw.auth.tokens ?? [])]), users } : undefined;
  if (listen && !auth && !isLoopback(listen)) {
    throw new ConfigError([{ ...at(), message: `http.listen ${spec} is reachable from other hosts: set http.auth (tokens or users), or listen on loopback or a unix socket` }]);
  }
  return Object.freeze({ listen, auth });
}

/** `127.0.0.1:8899`, `[::1]:8899`, `localhost:8899`, `unix:/run/floodgate/http.sock`. */
export function parseHttpListen(spec: string, fail: (message: string) => Error): HttpListen {
  if (spec.startsWith('unix:')) {
    const path = spec.slice('unix:'.length);
    if (!path.startsWith('/')) throw fail(`http.listen ${spec}: a unix socket path must be absolute`);
    return { kind: 'unix', path };
  }
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(spec);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!match || !host || !(port >= 1 && port <= 65535)) throw fail(`http.listen ${spec}: expected HOST:PORT, [IPV6]:PORT, unix:/PATH or off`);
  if (match[1] !== undefined && isIP(host) !== 6) throw fail(`http.listen ${spec}: not an IPv6 address in brackets`);
  return { kind: 'tcp', host, port };
}

export function isLoopback(listen: HttpListen): boolean {
  if (listen.kind === 'unix') return true;
  const host = listen.host.toLowerCase();
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}
