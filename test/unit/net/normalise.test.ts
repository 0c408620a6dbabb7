// Normalisation of envelope values: canonical forms, and hostile input that must not create new keys or cost time.
import fc from 'fast-check';
import { isIP } from 'node:net';
import { domainOf, MAX_ADDRESS_LENGTH, MAX_HOST_LENGTH, networkOf, normaliseAddress, normaliseHost, normaliseIp, TRUNCATION_MARK } from '../../../src/net/normalise';

describe('normaliseAddress', () => {
  test.each([
    ['<Joe@Example.ORG>', 'joe@example.org'],
    ['  <joe@example.org>  ', 'joe@example.org'],
    ['joe@example.org', 'joe@example.org'],
    ['<<a@b>>', 'a@b'],
    ['<<<a@b', 'a@b'],
    ['<>', ''],
    ['', ''],
    ['  <  >  ', ''],
    ['<@relay.example,@other.example:joe@example.org>', 'joe@example.org'],
    ['<postmaster>', 'postmaster'],
    ['<ÉLODIE@EXAMPLE.FR>', 'élodie@example.fr'],
  ])('%j -> %j', (raw, expected) => {
    expect(normaliseAddress(raw)).toBe(expected);
  });

  test('composed and decomposed unicode give one key', () => {
    expect(normaliseAddress('<e\u0301@example.org>')).toBe(normaliseAddress('<\u00e9@example.org>'));
  });

  test('a too long address is cut to the cap and marked, so it cannot equal a real address', () => {
    const huge = `<${'a'.repeat(1000)}@example.org>`;
    const result = normaliseAddress(huge);
    expect(result).toHaveLength(MAX_ADDRESS_LENGTH);
    expect(result.endsWith(TRUNCATION_MARK)).toBe(true);
    // The longest valid path (RFC 5321 4.5.3.1.3) is 256 characters with its brackets.
    expect(result.length).toBeGreaterThan(254);
  });

  test('an address at exactly the cap is kept whole', () => {
    const exact = `${'a'.repeat(MAX_ADDRESS_LENGTH - 12)}@example.org`;
    expect(normaliseAddress(exact)).toBe(exact);
  });

  test('truncation never splits a surrogate pair', () => {
    const result = normaliseAddress('a'.repeat(MAX_ADDRESS_LENGTH - 2) + '😀'.repeat(10));
    expect(result.endsWith(TRUNCATION_MARK)).toBe(true);
    expect(Buffer.from(result, 'utf8').toString('utf8')).toBe(result);
  });

  test('a multi-megabyte value is normalised quickly', () => {
    const huge = '<' + 'X'.repeat(8 * 1024 * 1024) + '>';
    const started = process.hrtime.bigint();
    const result = normaliseAddress(huge);
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(200);
    expect(result).toBe('x'.repeat(MAX_ADDRESS_LENGTH - 1) + TRUNCATION_MARK);
  });

  test('the result is always lower case, bracket-free at the ends and within the cap', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 2000, unit: 'grapheme' }), (raw) => {
        const result = normaliseAddress(raw);
        expect(result.length).toBeLessThanOrEqual(MAX_ADDRESS_LENGTH);
        expect(result).toBe(result.toLowerCase());
        expect(normaliseAddress(result)).toBe(result);
      }),
    );
  });
});

describe('domainOf', () => {
  test.each([
    ['joe@example.org', 'example.org'],
    ['joe@EXAMPLE.org.', 'example.org'],
    ['"odd@local"@example.org', 'example.org'],
    ['joe@[192.0.2.1]', '[192.0.2.1]'],
  ])('%j -> %j', (address, expected) => {
    expect(domainOf(address)).toBe(expected);
  });

  test.each([[''], ['postmaster'], ['joe@']])('%j has no domain', (address) => {
    expect(domainOf(address)).toBeUndefined();
  });
});

describe('normaliseHost', () => {
  test.each([
    ['Mail.Example.ORG.', 'mail.example.org'],
    ['  mx1.example.org  ', 'mx1.example.org'],
    ['localhost', 'localhost'],
    ['[192.0.2.1]', '[192.0.2.1]'],
    ['example.org...', 'example.org'],
    ['', ''],
  ])('%j -> %j', (raw, expected) => {
    expect(normaliseHost(raw)).toBe(expected);
  });

  test('a hostile HELO is cut to the cap and marked', () => {
    const result = normaliseHost('A'.repeat(100_000));
    expect(result).toBe('a'.repeat(MAX_HOST_LENGTH - 1) + TRUNCATION_MARK);
  });
});

describe('normaliseIp', () => {
  test.each([
    ['192.0.2.1', '192.0.2.1'],
    [' 192.0.2.1 ', '192.0.2.1'],
    ['[192.0.2.1]', '192.0.2.1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'],
    ['2001:db8:0:0:1:0:0:0', '2001:db8:0:0:1::'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2:3:4:5:6'],
    ['2001:db8:0:1:2:3:4:5', '2001:db8:0:1:2:3:4:5'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['::1', '::1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::FFFF:c000:0201', '192.0.2.1'],
    ['[IPv6:2001:db8::1]', '2001:db8::1'],
    ['IPv6:::ffff:10.0.0.1', '10.0.0.1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['::192.0.2.1', '::c000:201'],
    ['64:ff9b::192.0.2.1', '64:ff9b::c000:201'],
  ])('%j -> %j', (raw, expected) => {
    expect(normaliseIp(raw)).toBe(expected);
  });

  test.each([[''], ['not-an-ip'], ['192.0.2'], ['192.0.2.256'], ['1:2:3:4:5:6:7:8:9'], ['x'.repeat(100_000)], ['192.0.2.1/24']])('%j is no address', (raw) => {
    expect(normaliseIp(raw)).toBeUndefined();
  });

  test('every IPv6 address round-trips to a canonical form that is still the same address', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }), (groups) => {
        const long = groups.map((g) => g.toString(16).padStart(4, '0')).join(':');
        const canonical = normaliseIp(long);
        expect(canonical).toBeDefined();
        expect(isIP(canonical ?? '')).toBeGreaterThan(0);
        expect(normaliseIp(canonical ?? '')).toBe(canonical);
        expect(canonical).toBe(canonical?.toLowerCase());
      }),
    );
  });
});

describe('networkOf', () => {
  test.each([
    ['192.0.2.77', 24, 64, '192.0.2.0/24'],
    ['192.0.2.77', 32, 64, '192.0.2.77/32'],
    ['192.0.2.77', 0, 64, '0.0.0.0/0'],
    ['192.0.2.77', 1, 64, '128.0.0.0/1'],
    ['203.0.113.255', 25, 64, '203.0.113.128/25'],
    ['255.255.255.255', 31, 64, '255.255.255.254/31'],
    ['::ffff:192.0.2.77', 24, 64, '192.0.2.0/24'],
    ['2001:db8:1:2:3::4', 24, 64, '2001:db8:1:2::/64'],
    ['2001:db8:1:2:3::4', 24, 48, '2001:db8:1::/48'],
    ['2001:db8:1:2:3::4', 24, 56, '2001:db8:1::/56'],
    ['2001:db8:1:2ff:3::4', 24, 56, '2001:db8:1:200::/56'],
    ['2001:db8:1:2:3::4', 24, 128, '2001:db8:1:2:3::4/128'],
    ['2001:db8:1:2:3::4', 24, 0, '::/0'],
    ['2001:db8:ffff::', 24, 33, '2001:db8:8000::/33'],
  ])('%s with /%i (v4) /%i (v6) -> %s', (ip, v4, v6, expected) => {
    expect(networkOf(ip, v4, v6)).toBe(expected);
  });

  test('no network for something that is no address', () => {
    expect(networkOf('mail.example.org', 24, 64)).toBeUndefined();
  });

  test.each([
    [33, 64],
    [-1, 64],
    [24, 129],
    [24.5, 64],
  ])('an invalid prefix (%s, %s) is a programming error', (v4, v6) => {
    expect(() => networkOf('192.0.2.1', v4, v6)).toThrow(RangeError);
  });

  test('the network contains the address and its text is canonical', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 0, max: 32 }), (ip, prefix) => {
        const network = networkOf(ip, prefix, 64) ?? '';
        const [base, bits] = network.split('/');
        expect(Number(bits)).toBe(prefix);
        const toInt = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
        const size = 2 ** (32 - prefix);
        expect(toInt(base) % size).toBe(0);
        expect(toInt(ip) - toInt(base)).toBeLessThan(size);
        expect(toInt(ip) - toInt(base)).toBeGreaterThanOrEqual(0);
      }),
    );
  });
});
