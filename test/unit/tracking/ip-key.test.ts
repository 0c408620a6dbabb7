// IP keys: 16 bytes that sort as addresses do, and CIDR networks as key ranges (IPv6 networks never holding IPv4).
import fc from 'fast-check';
import { canonicalIpKey, canonicalIpKeyHex, ipFromKey, ipKey, ipKeyRanges, type IpKeyRange } from '../../../src/tracking/ip-key';
import { normaliseIp } from '../../../src/net/normalise';

const hex = (b: Buffer | undefined): string | undefined => b?.toString('hex');
const ranges = (text: string): string[][] => (ipKeyRanges(text) as IpKeyRange[]).map((r) => [hex(r.low) as string, hex(r.high) as string]);

test('IPv4 is the IPv4-mapped key, IPv6 its own bytes; both read back in canonical form', () => {
  expect(hex(ipKey('192.0.2.1'))).toBe('00000000000000000000ffffc0000201');
  expect(hex(ipKey('::ffff:192.0.2.1'))).toBe('00000000000000000000ffffc0000201');
  expect(hex(ipKey('2001:DB8::1'))).toBe('20010db8000000000000000000000001');
  expect(ipKey('not an address')).toBeUndefined();
  expect(ipFromKey(ipKey('192.0.2.1') as Buffer)).toBe('192.0.2.1');
  expect(ipFromKey(ipKey('2001:db8:0:0:1:0:0:1') as Buffer)).toBe('2001:db8::1:0:0:1');
  expect(() => ipFromKey(new Uint8Array(4))).toThrow(RangeError);
});

test('the key in hex is the key, whichever way it is written', () => {
  for (const ip of ['0.0.0.0', '255.255.255.255', '10.0.0.1', '192.0.2.10', '2001:db8::1', '::', '::1']) expect(canonicalIpKeyHex(ip)).toBe(canonicalIpKey(ip).toString('hex'));
  const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
  const v6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((g) => normaliseIp(g.map((x) => x.toString(16)).join(':')) as string);
  fc.assert(fc.property(fc.oneof(v4, v6), (ip) => canonicalIpKeyHex(ip) === canonicalIpKey(ip).toString('hex')));
});

test('byte order is address order, so that a network is one range', () => {
  const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
  fc.assert(fc.property(v4, v4, (a, b) => {
    const value = (ip: string): number => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
    expect(Math.sign((ipKey(a) as Buffer).compare(ipKey(b) as Buffer))).toBe(Math.sign(value(a) - value(b)));
  }));
});

test('a network is the range from its first to its last address; host bits are ignored', () => {
  expect(ranges('192.0.2.0/24')).toEqual([['00000000000000000000ffffc0000200', '00000000000000000000ffffc00002ff']]);
  expect(ranges('192.0.2.77/24')).toEqual(ranges('192.0.2.0/24'));
  expect(ranges('192.0.2.1')).toEqual([['00000000000000000000ffffc0000201', '00000000000000000000ffffc0000201']]);
  expect(ranges('0.0.0.0/0')).toEqual([['00000000000000000000ffff00000000', '00000000000000000000ffffffffffff']]);
  expect(ranges('2001:db8::/32')).toEqual([['20010db8000000000000000000000000', '20010db8ffffffffffffffffffffffff']]);
  expect(ranges('2001:db8::1/127')).toEqual([['20010db8000000000000000000000000', '20010db8000000000000000000000001']]);
  expect(ipKeyRanges('192.0.2.0/33')).toMatch(/invalid prefix/);
  expect(ipKeyRanges('nonsense')).toMatch(/not an IP address/);
});

test('an IPv6 network wide enough to hold the IPv4 keys is the two ranges beside them', () => {
  expect(ranges('::/0')).toEqual([
    ['00000000000000000000000000000000', '00000000000000000000fffeffffffff'],
    ['00000000000000000001000000000000', 'ffffffffffffffffffffffffffffffff'],
  ]);
  expect(ranges('::/96')).toEqual([['00000000000000000000000000000000', '000000000000000000000000ffffffff']]);
  expect(ranges('::/80')).toEqual([
    ['00000000000000000000000000000000', '00000000000000000000fffeffffffff'],
  ]);
  // An IPv4-mapped network is IPv4.
  expect(ranges('::ffff:192.0.2.0/120')).toEqual(ranges('192.0.2.0/24'));
});
