// Postscreen-style filters on a DNS list's answer: which return codes count as a listing.
import { isIP } from 'node:net';
import { parseCidr } from './cidr';

/** One filter from the rules, e.g. `127.0.0.[2..11]`; `source` is the text as written, for logs. */
export interface AnswerFilter {
  readonly source: string;
  matches(ipv4: string): boolean;
}

/** Inclusive ranges one octet may take: `[2..4;10]` is [[2, 4], [10, 10]]. */
type OctetRanges = ReadonlyArray<readonly [number, number]>;

const LOOPBACK_NET = 127;

/**
 * Parses one filter as postscreen_dnsbl_sites writes them (postscreen(8), "d.d.d.d" with any
 * octet a bracketed list of values and ranges: `127.0.0.2`, `127.0.0.[2..11]`,
 * `127.0.[0..255].[1;3]`, `127.0.0.[2..4;10]`), or as a CIDR (`127.0.0.0/24`).
 * Returns a problem text for the rules loader otherwise. A filter that cannot meet 127.0.0.0/8 is
 * refused: answers outside it are taken as a resolver rewriting NXDOMAIN and never reach a filter.
 */
export function parseAnswerFilter(text: string): AnswerFilter | string {
  const source = text.trim();
  if (source === '') return 'an answer filter is empty (write e.g. 127.0.0.2 or 127.0.0.[2..11])';
  const parsed = source.includes('/') ? parseCidrFilter(source) : parseOctetFilter(source);
  if (typeof parsed === 'string') return parsed;
  if (!parsed.reachesLoopback) {
    return `answer filter "${source}" can never match: DNS lists answer in 127.0.0.0/8, and other answers are ignored as rewritten by the resolver`;
  }
  return { source, matches: parsed.matches };
}

/** True if any filter matches; an empty list accepts every answer (the caller has validated it already). */
export function anyFilterMatches(filters: readonly AnswerFilter[], ipv4: string): boolean {
  return filters.length === 0 || filters.some((f) => f.matches(ipv4));
}

interface ParsedFilter {
  matches(ipv4: string): boolean;
  reachesLoopback: boolean;
}

function parseOctetFilter(source: string): ParsedFilter | string {
  // Dots inside brackets belong to `..` ranges, so split on dots outside brackets only.
  const parts = source.match(/\[[^\]]*\]|[^.[\]]+/g) ?? [];
  if (parts.join('.') !== source || parts.length !== 4) {
    return `answer filter "${source}" is not four octets (write e.g. 127.0.0.2, 127.0.0.[2..11] or 127.0.0.0/24)`;
  }
  const octets: OctetRanges[] = [];
  for (const part of parts) {
    const ranges = parseOctet(part);
    if (typeof ranges === 'string') return `answer filter "${source}": ${ranges}`;
    octets.push(ranges);
  }
  return {
    matches: (ip) => {
      const values = ipv4Octets(ip);
      return values !== undefined && values.every((value, i) => octets[i].some(([low, high]) => value >= low && value <= high));
    },
    reachesLoopback: octets[0].some(([low, high]) => low <= LOOPBACK_NET && LOOPBACK_NET <= high),
  };
}

/** `7`, or `[2..4;10]` (values and ranges separated by `;`). */
function parseOctet(part: string): OctetRanges | string {
  if (!part.startsWith('[')) {
    const value = octetValue(part);
    return value === undefined ? `"${part}" is not an octet (0 to 255)` : [[value, value]];
  }
  const inner = part.slice(1, -1);
  if (inner.trim() === '') return `"${part}" lists no values`;
  const ranges: Array<[number, number]> = [];
  for (const item of inner.split(';')) {
    const bounds = item.trim().split('..');
    const low = octetValue(bounds[0]);
    const high = bounds.length === 2 ? octetValue(bounds[1]) : low;
    if (bounds.length > 2 || low === undefined || high === undefined) return `"${item.trim()}" in "${part}" is not an octet or a range like 2..11`;
    if (low > high) return `range "${item.trim()}" in "${part}" runs backwards`;
    ranges.push([low, high]);
  }
  return ranges;
}

function octetValue(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^[0-9]{1,3}$/.test(trimmed)) return undefined;
  const value = Number(trimmed);
  return value <= 255 ? value : undefined;
}

function parseCidrFilter(source: string): ParsedFilter | string {
  const cidr = parseCidr(source);
  if (typeof cidr === 'string') return `answer filter ${cidr}`;
  if (cidr.family !== 'ipv4') return `answer filter "${source}" is IPv6; DNS lists answer with IPv4 addresses (A records)`;
  const network = toNumber(cidr.address.split('.').map(Number));
  // A shift by 32 is a no-op in JS, hence the /0 case.
  const mask = cidr.prefix === 0 ? 0 : (0xffffffff << (32 - cidr.prefix)) >>> 0;
  const base = (network & mask) >>> 0;
  const loopback = (LOOPBACK_NET << 24) >>> 0;
  const loopbackMask = 0xff000000;
  return {
    matches: (ip) => {
      const values = ipv4Octets(ip);
      return values !== undefined && ((toNumber(values) & mask) >>> 0) === base;
    },
    // Two networks overlap when each one's base, under the shorter of the two masks, is equal.
    reachesLoopback: ((base & mask & loopbackMask) >>> 0) === ((loopback & mask & loopbackMask) >>> 0),
  };
}

function toNumber(octets: readonly number[]): number {
  return ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
}

/** The four octets of a dotted IPv4 address, or undefined for anything else (IPv6, junk). */
export function ipv4Octets(ip: string): number[] | undefined {
  if (isIP(ip) !== 4) return undefined;
  return ip.split('.').map(Number);
}
