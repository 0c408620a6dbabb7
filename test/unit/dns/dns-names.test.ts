// Reversed query names for DNSBL and PTR lookups, and which RHSBL names are worth a query.
import { plausibleDomain, ptrQueryName, reversedAddress } from '../../../src/dns/dns-names';

describe('reversedAddress', () => {
  test.each([
    ['127.0.0.2', '2.0.0.127'],
    ['192.0.2.1', '1.2.0.192'],
    // A dual-stack socket reports IPv4 clients like this; lists must see the IPv4 address.
    ['::ffff:192.0.2.1', '1.2.0.192'],
    ['[::FFFF:198.51.100.7]', '7.100.51.198'],
    ['2001:db8::1', '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2'],
    ['2001:DB8:0:0:0:0:0:1', '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2'],
    ['2001:db8:1234:5678:9abc:def0:1:2', '2.0.0.0.1.0.0.0.0.f.e.d.c.b.a.9.8.7.6.5.4.3.2.1.8.b.d.0.1.0.0.2'],
    ['::1', '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0'],
    ['fe80::1%eth0', '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f'],
  ])('%s -> %s', (ip, reversed) => {
    expect(reversedAddress(ip)).toBe(reversed);
  });

  test('an IPv6 name has 32 nibbles', () => {
    expect(reversedAddress('2001:db8::ff00:42:8329')?.split('.')).toHaveLength(32);
  });

  test.each(['', 'example.org', '256.0.0.1', '1.2.3', 'unix:/run/socket', '2001:db8::g'])('%j is no address', (text) => {
    expect(reversedAddress(text)).toBeUndefined();
  });
});

describe('ptrQueryName', () => {
  test('IPv4 lives under in-addr.arpa, IPv6 under ip6.arpa', () => {
    expect(ptrQueryName('192.0.2.1')).toBe('1.2.0.192.in-addr.arpa');
    expect(ptrQueryName('::ffff:192.0.2.1')).toBe('1.2.0.192.in-addr.arpa');
    expect(ptrQueryName('2001:db8::1')).toBe('1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa');
    expect(ptrQueryName('nonsense')).toBeUndefined();
  });
});

describe('plausibleDomain', () => {
  test.each([
    ['example.org', 'example.org'],
    ['Mail.Example.ORG.', 'mail.example.org'],
    ['a-b.example.co.uk', 'a-b.example.co.uk'],
    ['_dmarc.example.org', '_dmarc.example.org'],
    ['bücher.example', 'xn--bcher-kva.example'],
    [`${'a'.repeat(63)}.example`, `${'a'.repeat(63)}.example`],
  ])('%s -> %s', (text, domain) => {
    expect(plausibleDomain(text)).toBe(domain);
  });

  test.each([
    ['', 'empty'],
    ['localhost', 'a single label'],
    ['[192.0.2.1]', 'an address literal'],
    ['[IPv6:2001:db8::1]', 'an IPv6 address literal'],
    ['192.0.2.1', 'a bare address'],
    ['example.123', 'a numeric top label'],
    ['exa mple.org', 'a space'],
    ['-bad.example.org', 'a label starting with a hyphen'],
    ['bad-.example.org', 'a label ending with a hyphen'],
    ['a..b.org', 'an empty label'],
    [`${'a'.repeat(64)}.example`, 'a label over 63'],
    [`${'abcdefghi.'.repeat(25)}example`, 'over 253 characters'],
    ['user@example.org', 'an @'],
  ])('%j is refused (%s)', (text) => {
    expect(plausibleDomain(text)).toBeUndefined();
  });

  test('253 characters is the limit', () => {
    const labels = ['a', 'b', 'c', 'd'].map((c) => c.repeat(61)).join('.'); // 4 * 61 + 3 = 247
    const at253 = `xy.${labels}.ex`;
    expect(at253).toHaveLength(253);
    expect(plausibleDomain(at253)).toBe(at253);
    expect(plausibleDomain(`w${at253}`)).toBeUndefined();
  });
});
