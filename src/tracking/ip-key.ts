// Client addresses as 16-byte keys that sort as the addresses do, so that a CIDR network is one key range.
import { parseCidr } from '../net/cidr';
import { canonicalIpv4Value, ipv6Groups, normaliseIp } from '../net/normalise';

export const IP_KEY_BYTES = 16;

/** Both ends inclusive. */
export interface IpKeyRange {
  low: Buffer;
  high: Buffer;
}

/**
 * The key of an address: IPv6 as its 16 bytes, IPv4 as the IPv4-mapped ::ffff:a.b.c.d, so both
 * families share one ordering (IPv4 is the ::ffff:0:0/96 slice of it) and byte order is address order.
 */
export function ipKey(ip: string): Buffer | undefined {
  const canonical = normaliseIp(ip);
  return canonical === undefined ? undefined : canonicalIpKey(canonical);
}

/** ipKey of an address already in normaliseIp's canonical form (checkRecord gives it), without normalising it again. */
export function canonicalIpKey(canonical: string): Buffer {
  const key = Buffer.alloc(IP_KEY_BYTES);
  // The dotted quad's value as normaliseIp already read it: every tracking record's address passes here.
  const ipv4 = canonicalIpv4Value(canonical);
  if (ipv4 !== undefined) {
    key[10] = 0xff;
    key[11] = 0xff;
    key.writeUInt32BE(ipv4, 12);
  } else {
    ipv6Groups(canonical).forEach((group, i) => key.writeUInt16BE(group, 2 * i));
  }
  return key;
}

/** IPv4's keys all begin with these 12 bytes (::ffff:0:0/96), in hex. */
const MAPPED_PREFIX_HEX = '00000000000000000000ffff';

/**
 * canonicalIpKey as hex, what a tracking record's row carries. An IPv4 address (nearly every
 * client) is written as text, without the Buffer: a new ArrayBuffer for each record cost the event
 * loop ~0.3 µs and the garbage collector one more backing store to free.
 */
export function canonicalIpKeyHex(canonical: string): string {
  const ipv4 = canonicalIpv4Value(canonical);
  return ipv4 === undefined ? canonicalIpKey(canonical).toString('hex') : MAPPED_PREFIX_HEX + ipv4.toString(16).padStart(8, '0');
}

/** The address a key stands for, in normaliseIp's canonical text. */
export function ipFromKey(key: Uint8Array): string {
  if (key.length !== IP_KEY_BYTES) throw new RangeError(`an IP key has ${IP_KEY_BYTES} bytes, not ${key.length}`);
  const bytes = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(2 * i).toString(16));
  // normaliseIp turns an IPv4-mapped address back into the dotted quad and compresses IPv6 zeros.
  return normaliseIp(groups.join(':')) as string;
}

/** Where IPv4 lives among the keys: ::ffff:0.0.0.0 to ::ffff:255.255.255.255. */
const MAPPED_LOW = Buffer.from('00000000000000000000ffff00000000', 'hex');
const MAPPED_HIGH = Buffer.from('00000000000000000000ffffffffffff', 'hex');

/**
 * The key ranges of every address in `192.0.2.0/24`, `2001:db8::/32` or a bare address; a problem
 * description otherwise. One range, except for an IPv6 network wide enough to contain the IPv4 keys
 * (::/0 to ::/96): IPv6 networks never hold IPv4 clients (as in PostgreSQL's inet), so that one is
 * the two ranges on either side of them.
 */
export function ipKeyRanges(text: string): IpKeyRange[] | string {
  const cidr = parseCidr(text);
  if (typeof cidr === 'string') return cidr;
  const low = ipKey(cidr.address) as Buffer;
  // An IPv4 prefix counts from bit 96 of the mapped key.
  let bits = cidr.family === 'ipv4' ? 96 + cidr.prefix : cidr.prefix;
  const high = Buffer.from(low);
  for (let byte = 0; byte < IP_KEY_BYTES; byte++, bits -= 8) {
    const kept = Math.max(0, Math.min(8, bits));
    const mask = (0xff << (8 - kept)) & 0xff;
    low[byte] &= mask;
    high[byte] = low[byte] | (~mask & 0xff);
  }
  if (cidr.family === 'ipv4' || low.compare(MAPPED_LOW) > 0 || high.compare(MAPPED_HIGH) < 0) return [{ low, high }];
  const below = Buffer.from('00000000000000000000fffeffffffff', 'hex');
  const above = Buffer.from('00000000000000000001000000000000', 'hex');
  return [...(low.compare(below) <= 0 ? [{ low, high: below }] : []), ...(above.compare(high) <= 0 ? [{ low: above, high }] : [])];
}
