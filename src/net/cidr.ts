// Networks as rules and lists write them: `192.0.2.0/24`, `2001:db8::/32`, or a bare address.
import { isIP } from 'node:net';
import { normaliseIp } from './normalise';

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** `192.0.2.0/24`, `2001:db8::/32`, or a bare address (a /32 or /128); a problem description otherwise. */
export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf('/');
  const address = normaliseIp(slash < 0 ? text : text.slice(0, slash));
  if (address === undefined) return `"${text}" is not an IP address or CIDR`;
  const family = isIP(address) === 4 ? 'ipv4' : 'ipv6';
  const max = family === 'ipv4' ? 32 : 128;
  if (slash < 0) return { address, prefix: max, family };
  const prefixText = text.slice(slash + 1);
  let prefix = /^[0-9]{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  // normaliseIp turned an IPv4-mapped network into IPv4: shift its prefix to match.
  if (family === 'ipv4' && isIP(text.slice(0, slash)) === 6) prefix -= 96;
  if (!(prefix >= 0 && prefix <= max)) return `"${text}" has an invalid prefix length (0 to ${max} for ${family === 'ipv4' ? 'IPv4' : 'IPv6'})`;
  return { address, prefix, family };
}
