// Query names built from addresses and domains: reversed IPs for PTR and DNSBL lookups, RHSBL domain checks.
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { ipv6Groups, normaliseHost, normaliseIp } from '../net/normalise';

/** RFC 1035 section 2.3.4: 253 characters written out (255 octets on the wire), 63 per label. */
export const MAX_DOMAIN_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;

/**
 * The address in the reversed form DNS lists and PTR zones use: IPv4 `192.0.2.1` -> `1.2.0.192`;
 * IPv6 as 32 nibbles, least significant first (RFC 3596 section 2.5), which is how every IPv6 DNSBL
 * (Spamhaus, Mailspike, ...) is keyed. The address is normalised first, so `::ffff:192.0.2.1` is
 * looked up as the IPv4 client it is. Undefined for a string that is no address.
 */
export function reversedAddress(ip: string): string | undefined {
  const address = normaliseIp(ip);
  if (address === undefined) return undefined;
  if (isIP(address) === 4) return address.split('.').reverse().join('.');
  const hex = ipv6Groups(address)
    .map((group) => group.toString(16).padStart(4, '0'))
    .join('');
  return [...hex].reverse().join('.');
}

/** The PTR query name of an address (`1.2.0.192.in-addr.arpa`, `...ip6.arpa`), or undefined for no address. */
export function ptrQueryName(ip: string): string | undefined {
  const reversed = reversedAddress(ip);
  if (reversed === undefined) return undefined;
  return `${reversed}.${isIP(normaliseIp(ip) ?? '') === 4 ? 'in-addr.arpa' : 'ip6.arpa'}`;
}

/**
 * The domain in the ASCII (A-label) form DNS needs, lower case, or undefined if it cannot be a
 * domain anyone registered: an address literal (`[192.0.2.1]`, or a bare IP a HELO may carry),
 * a single label (`localhost`, which no list holds), an all-numeric top label, an empty or
 * over-long label, characters DNS host names never contain, or more than 253 characters. Asking a
 * list about such a name only leaks junk to the list's servers and spends a query.
 */
export function plausibleDomain(text: string): string | undefined {
  const host = normaliseHost(text);
  if (host === '' || host.length > MAX_DOMAIN_LENGTH * 4) return undefined;
  if (host.startsWith('[') || isIP(host) !== 0) return undefined;
  // domainToASCII turns a U-label into punycode and answers '' for what WHATWG URL rules refuse.
  const ascii = domainToASCII(host);
  if (ascii === '' || ascii.length > MAX_DOMAIN_LENGTH) return undefined;
  const labels = ascii.split('.');
  if (labels.length < 2 || /^[0-9]+$/.test(labels[labels.length - 1])) return undefined;
  const validLabel = (label: string) => label.length > 0 && label.length <= MAX_LABEL_LENGTH && /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$/.test(label);
  return labels.every(validLabel) ? ascii : undefined;
}
