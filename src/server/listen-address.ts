// Parses milter socket specifications in Postfix (inet:host:port) and Sendmail (inet:port@host) notation.
import { isIP } from 'node:net';
import { ListenError } from './errors';

export type ListenAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/**
 * Accepts `inet:HOST:PORT`, `inet:[IPV6]:PORT` (Postfix), `inet:PORT@HOST`, `inet6:PORT@HOST`,
 * `inet:PORT` (all addresses, as libmilter) (Sendmail), and `unix:/path` or `local:/path`.
 */
export function parseListenAddress(spec: string): ListenAddress {
  const colon = spec.indexOf(':');
  const scheme = colon < 0 ? '' : spec.slice(0, colon).toLowerCase();
  const rest = spec.slice(colon + 1);
  if (scheme === 'unix' || scheme === 'local') {
    if (!rest.startsWith('/')) throw new ListenError(`${spec}: a unix socket path must be absolute`);
    return { kind: 'unix', path: rest };
  }
  if (scheme !== 'inet' && scheme !== 'inet6') {
    throw new ListenError(`${spec}: expected inet:HOST:PORT, inet:PORT@HOST, inet6:PORT@HOST or unix:/PATH`);
  }
  let host: string;
  let portText: string;
  const at = rest.indexOf('@');
  if (at >= 0) {
    portText = rest.slice(0, at);
    host = rest.slice(at + 1);
  } else if (/^\d+$/.test(rest)) {
    portText = rest;
    host = scheme === 'inet6' ? '::' : '0.0.0.0';
  } else {
    const lastColon = rest.lastIndexOf(':');
    if (lastColon < 0) throw new ListenError(`${spec}: no port`);
    host = rest.slice(0, lastColon);
    portText = rest.slice(lastColon + 1);
  }
  host = host.replace(/^\[(.*)\]$/, '$1');
  if (host.length === 0) throw new ListenError(`${spec}: no host`);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    throw new ListenError(`${spec}: port must be 1-65535`);
  }
  if (scheme === 'inet6' && isIP(host) === 4) throw new ListenError(`${spec}: inet6 with an IPv4 address`);
  return { kind: 'tcp', host, port: Number(portText) };
}

export function formatListenAddress(address: ListenAddress): string {
  if (address.kind === 'unix') return `unix:${address.path}`;
  return isIP(address.host) === 6 ? `inet:[${address.host}]:${address.port}` : `inet:${address.host}:${address.port}`;
}
