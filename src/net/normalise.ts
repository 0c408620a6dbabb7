// Canonical, length-capped forms of the envelope values that become facts and store keys.
import { isIP } from 'node:net';

/** RFC 5321 limits: local part 64 + '@' + domain 255. No valid path is longer (4.5.3.1.3 caps it at 256 with brackets). */
export const MAX_ADDRESS_LENGTH = 320;
/** RFC 1035: a name is at most 255 octets on the wire, 253 characters written out. */
export const MAX_HOST_LENGTH = 255;
/**
 * Ends a value cut at its cap. A cut value is exactly the cap long, longer than any valid address
 * or host name, so it can never equal a real one; values sharing the first cap-1 characters share
 * one key, which is what a rate limiter wants from an attacker inventing huge addresses.
 */
export const TRUNCATION_MARK = '…';

/**
 * The bare address, lower case: `<Joe@Example.ORG>` -> `joe@example.org`, `<>` -> ''. Any number
 * of brackets is stripped so `<<a@b>>` cannot become a key of its own, and an RFC 5321 source
 * route (`<@relay:joe@example.org>`) is dropped as the RFC says receivers must.
 */
export function normaliseAddress(raw: string): string {
  let start = 0;
  let end = raw.length;
  while (start < end && (raw[start] === '<' || isSpace(raw.charCodeAt(start)))) start++;
  while (end > start && (raw[end - 1] === '>' || isSpace(raw.charCodeAt(end - 1)))) end--;
  let address = bounded(raw, start, end, MAX_ADDRESS_LENGTH);
  if (address.startsWith('@')) {
    const colon = address.indexOf(':');
    if (colon > 0) address = address.slice(colon + 1);
  }
  return cap(canonicalCase(address), MAX_ADDRESS_LENGTH);
}

/** The domain of a normalised address, or undefined for '' (null sender) and bare local parts (`postmaster`). */
export function domainOf(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  if (at < 0 || at === address.length - 1) return undefined;
  return normaliseHost(address.slice(at + 1));
}

/** A host name (HELO argument, reverse DNS name, domain) in lower case without the root's trailing dot. */
export function normaliseHost(name: string): string {
  let start = 0;
  let end = name.length;
  while (start < end && isSpace(name.charCodeAt(start))) start++;
  while (end > start && (name[end - 1] === '.' || isSpace(name.charCodeAt(end - 1)))) end--;
  return cap(canonicalCase(bounded(name, start, end, MAX_HOST_LENGTH)), MAX_HOST_LENGTH);
}

/**
 * The canonical text of an IP address (RFC 5952 for IPv6: lower case, longest zero run
 * compressed), or undefined if it is none. An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a
 * dual-stack socket reports) becomes the IPv4 address so one client has one key. Brackets, an
 * `IPv6:` tag (Sendmail's address literal) and a zone index are dropped.
 */
export function normaliseIp(ip: string): string | undefined {
  // The common case, a dotted quad already canonical (what facts and the MTAs hand in), skips the general parse.
  if (canonicalIpv4Value(ip) !== undefined) return ip;
  let text = ip.trim();
  if (text.length > 64) return undefined; // longer than any written address: skip the parse
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  if (/^ipv6:/i.test(text)) text = text.slice(5);
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const family = isIP(text);
  if (family === 4) return text.split('.').map(Number).join('.');
  if (family !== 6) return undefined;
  const groups = ipv6Groups(text);
  if (isMappedIpv4(groups)) return ipv4FromGroups(groups[6], groups[7]);
  return formatIpv6(groups);
}

/**
 * The network an address belongs to, as CIDR text: `192.0.2.77` with 24 -> `192.0.2.0/24`,
 * `2001:db8:1:2:3::4` with 64 -> `2001:db8:1:2::/64`. Undefined for a string that is no address.
 */
export function networkOf(ip: string, ipv4Prefix: number, ipv6Prefix: number): string | undefined {
  checkPrefix(ipv4Prefix, 32);
  checkPrefix(ipv6Prefix, 128);
  const canonical = normaliseIp(ip);
  if (canonical === undefined) return undefined;
  const ipv4 = canonicalIpv4Value(canonical);
  if (ipv4 !== undefined) return ipv4Network(ipv4, ipv4Prefix);
  const groups = ipv6Groups(canonical).map((group, i) => {
    const kept = Math.min(16, Math.max(0, ipv6Prefix - i * 16));
    return kept === 0 ? 0 : group & ((0xffff << (16 - kept)) & 0xffff);
  });
  return `${formatIpv6(groups)}/${ipv6Prefix}`;
}

function ipv4Network(value: number, prefix: number): string {
  // `>>> 0` keeps the arithmetic unsigned; a shift by 32 is a no-op in JS, hence the 0 case.
  const masked = prefix === 0 ? 0 : (value & (0xffffffff << (32 - prefix))) >>> 0;
  return `${masked >>> 24}.${(masked >>> 16) & 0xff}.${(masked >>> 8) & 0xff}.${masked & 0xff}/${prefix}`;
}

/** The value of a dotted quad as normaliseIp writes it (decimal, 0-255, no leading zeros), else undefined. */
export function canonicalIpv4Value(text: string): number | undefined {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || dots === 3) return undefined;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return undefined; // a leading zero
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return undefined;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || digits === 0) return undefined;
  return value * 256 + octet;
}

function checkPrefix(prefix: number, max: number): void {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) throw new RangeError(`prefix ${prefix} is not in 0..${max}`);
}

/** The eight 16-bit groups of an address net.isIP accepted as IPv6 (so the text is well formed). */
export function ipv6Groups(text: string): number[] {
  const tail: number[] = [];
  let head = text;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const [a, b, c, d] = text.slice(lastColon + 1).split('.').map(Number);
    tail.push((a << 8) | b, (c << 8) | d);
    head = text.slice(0, text.endsWith('::', lastColon + 1) ? lastColon + 1 : lastColon);
  }
  const halves = head.split('::');
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const left = parse(halves[0]);
  const right = parse(halves[1]);
  const zeros = halves.length === 2 ? 8 - tail.length - left.length - right.length : 0;
  return [...left, ...new Array<number>(zeros).fill(0), ...right, ...tail];
}

function isMappedIpv4(groups: readonly number[]): boolean {
  return groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
}

function ipv4FromGroups(high: number, low: number): string {
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

/** RFC 5952 section 4: compress the first longest run of two or more zero groups. */
function formatIpv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

function isSpace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d);
}

/**
 * The slice, cut early when it is far over the cap: a hostile megabyte-long HELO is then
 * normalised in constant time. Four times the cap leaves room for case folding and NFC.
 */
function bounded(text: string, start: number, end: number, max: number): string {
  return text.slice(start, Math.min(end, start + 4 * max));
}

const NON_ASCII = /[^\x00-\x7f]/;

/**
 * NFC first, so the composed and decomposed spellings of `é` are one key. ASCII text is its own NFC
 * form, and nearly every address and host name is ASCII: normalize() calls into ICU all the same.
 */
function canonicalCase(text: string): string {
  return (NON_ASCII.test(text) ? text.normalize('NFC') : text).toLowerCase();
}

function cap(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = max - TRUNCATION_MARK.length;
  // Never split a surrogate pair: half a character would not survive a round trip through UTF-8.
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--;
  return text.slice(0, cut) + TRUNCATION_MARK;
}
