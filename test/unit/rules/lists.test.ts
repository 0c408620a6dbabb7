// Lists: CIDR parsing and matching (IPv4, IPv6, IPv4-mapped), domains with subdomains, addresses, patterns, list files.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../../src/config/errors';
import { parseCidr } from '../../../src/net/cidr';
import { buildSet, listFileEntries, type ListEntry } from '../../../src/rules/lists';
import { parseRuleSet } from '../../../src/rules/loader';
import type { Facts } from '../../../src/rules/rule-set';

/** Entries that fail the test if reported: for sets that must compile cleanly. */
function entries(...texts: string[]): ListEntry[] {
  return texts.map((text) => ({
    text,
    report: (message: string) => {
      throw new Error(`unexpected problem: ${message}`);
    },
  }));
}

describe('parseCidr', () => {
  test.each([
    ['192.0.2.0/24', { address: '192.0.2.0', prefix: 24, family: 'ipv4' }],
    ['192.0.2.1', { address: '192.0.2.1', prefix: 32, family: 'ipv4' }],
    ['2001:DB8::/32', { address: '2001:db8::', prefix: 32, family: 'ipv6' }],
    ['::1', { address: '::1', prefix: 128, family: 'ipv6' }],
    ['::ffff:10.0.0.0/104', { address: '10.0.0.0', prefix: 8, family: 'ipv4' }],
    ['0.0.0.0/0', { address: '0.0.0.0', prefix: 0, family: 'ipv4' }],
  ])('%s', (text, expected) => {
    expect(parseCidr(text)).toEqual(expected);
  });

  test.each([
    ['10.0.0.0/33', 'invalid prefix length'],
    ['2001:db8::/129', 'invalid prefix length'],
    ['10.0.0.0/', 'invalid prefix length'],
    ['10.0.0.0/8x', 'invalid prefix length'],
    ['10.0.0.0/-1', 'invalid prefix length'],
    ['::ffff:10.0.0.0/80', 'invalid prefix length'],
    ['10.0.0/8', 'not an IP address'],
    ['example.org', 'not an IP address'],
    ['', 'not an IP address'],
  ])('%j is refused (%s)', (text, fragment) => {
    expect(parseCidr(text)).toEqual(expect.stringContaining(fragment));
  });
});

describe('CIDR sets', () => {
  const set = buildSet('cidr', entries('192.0.2.0/24', '10.0.0.0/8', '2001:db8:aa::/48', '198.51.100.7', '::1'));

  test.each([
    ['192.0.2.0', true],
    ['192.0.2.255', true],
    ['192.0.3.0', false],
    ['10.255.255.255', true],
    ['11.0.0.0', false],
    ['198.51.100.7', true],
    ['198.51.100.8', false],
    ['::ffff:192.0.2.9', true],
    ['::ffff:192.0.3.9', false],
    ['2001:db8:aa:1::5', true],
    ['2001:DB8:AA::', true],
    ['2001:db8:ab::1', false],
    ['::1', true],
    ['::2', false],
    ['not an ip', false],
    ['', false],
  ])('%j -> %s', (ip, expected) => {
    expect(set.has(ip)).toBe(expected);
  });

  test('an IPv4 address does not match an IPv6 network that happens to share bits', () => {
    const v6 = buildSet('cidr', entries('::/0'));
    expect(v6.has('192.0.2.1')).toBe(false);
    expect(v6.has('2001:db8::1')).toBe(true);
  });

  test('an IPv4-mapped network matches plain IPv4 clients', () => {
    const mapped = buildSet('cidr', entries('::ffff:192.0.2.0/120'));
    expect(mapped.has('192.0.2.200')).toBe(true);
    expect(mapped.has('192.0.3.1')).toBe(false);
  });
});

describe('domain, address and pattern sets', () => {
  test('a domain matches itself and its subdomains, not look-alikes', () => {
    const set = buildSet('domains', entries('Example.NET.', 'gmail.com'));
    expect(set.has('example.net')).toBe(true);
    expect(set.has('mx.example.net')).toBe(true);
    expect(set.has('a.b.c.example.net')).toBe(true);
    expect(set.has('badexample.net')).toBe(false);
    expect(set.has('example.net.evil.org')).toBe(false);
    expect(set.has('net')).toBe(false);
    expect(set.size).toBe(2);
  });

  test.each([['*.example.org'], ['.example.org'], ['a..b'], ['joe@example.org'], ['two words'], ['']])('%j is not a domain entry', (text) => {
    const problems: string[] = [];
    buildSet('domains', [{ text, report: (m) => problems.push(m) }]);
    expect(problems).toEqual([expect.stringContaining('is not a domain')]);
  });

  test('addresses match exactly, without regard to case or brackets', () => {
    const set = buildSet('addresses', entries('<CEO@Example.org>', 'ops@example.org'));
    expect(set.has('ceo@example.org')).toBe(true);
    expect(set.has('ceo@sub.example.org')).toBe(false);
    expect(set.has('xceo@example.org')).toBe(false);
  });

  test('patterns ignore case and give the same answer every time (no global flag)', () => {
    const set = buildSet('patterns', entries('^localhost$', '\\d+-\\d+-\\d+'));
    expect(set.has('LOCALHOST')).toBe(true);
    expect(set.has('host-1-2-3.dsl.example.net')).toBe(true);
    expect(set.has('host-1-2-3.dsl.example.net')).toBe(true);
    expect(set.has('mail.example.net')).toBe(false);
  });
});

describe('list files', () => {
  test('comments, blank lines and indentation are skipped; positions are reported per line', () => {
    const text = '# heading\n\n  192.0.2.0/24   # office\r\n10.0.0.300\n\t# indented comment\n^a#b$\n';
    const problems: string[] = [];
    const found = listFileEntries(text, 'nets.txt', (at, message) => problems.push(`${at.file}:${at.line}:${at.column}: ${message}`));
    expect(found.map((e) => e.text)).toEqual(['192.0.2.0/24', '10.0.0.300', '^a#b$']);
    found[1].report('bad');
    expect(problems).toEqual(['nets.txt:4:1: bad']);
    found[0].report('also bad');
    expect(problems[1]).toBe('nets.txt:3:3: also bad');
  });

  describe('read relative to the rules file', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'floodgate-lists-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    const rules = (lists: string) =>
      `keys: { ip: { half_life: 10m } }\nlists:\n${lists}\nrules:\n  - name: allow\n    on: connect\n    when: { client_ip: { list: nets } }\n    ok: true\n  - name: count\n    on: mail\n    when: { sender: { list: people } }\n    add: { ip: 1 }\n`;
    const facts = (clientIp: string): Facts => ({ event: 'connect', clientIp, macro: () => undefined });

    test('entries from files are matched', () => {
      writeFileSync(join(dir, 'nets.txt'), '# trusted\n192.0.2.0/24\n2001:db8::/32 # v6 office\n');
      writeFileSync(join(dir, 'people.txt'), 'ceo@example.org\n');
      const set = parseRuleSet(rules('  nets: { cidr_file: nets.txt }\n  people: { addresses_file: people.txt }'), join(dir, 'rules.yml'));
      expect(set.warnings).toEqual([]);
      const allow = set.rules[0];
      expect(allow.condition(facts('192.0.2.10'))).toBe(true);
      expect(allow.condition(facts('::ffff:192.0.2.10'))).toBe(true);
      expect(allow.condition(facts('2001:db8:5::1'))).toBe(true);
      expect(allow.condition(facts('198.51.100.1'))).toBe(false);
      const count = set.rules[1];
      expect(count.condition({ event: 'mail', sender: 'ceo@example.org', macro: () => undefined })).toBe(true);
    });

    test('every bad line of every file is reported, with the file name, line and column', () => {
      writeFileSync(join(dir, 'nets.txt'), '192.0.2.0/24\n  10.0.0.0/33\nnonsense\n');
      writeFileSync(join(dir, 'people.txt'), '\n\n  \t\n');
      let error: unknown;
      try {
        parseRuleSet(rules('  nets: { cidr_file: nets.txt }\n  people: { addresses_file: people.txt }'), join(dir, 'rules.yml'));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems).toEqual([
        { file: join(dir, 'nets.txt'), line: 2, column: 3, message: '"10.0.0.0/33" has an invalid prefix length (0 to 32 for IPv4)' },
        { file: join(dir, 'nets.txt'), line: 3, column: 1, message: '"nonsense" is not an IP address or CIDR' },
      ]);
    });

    test('an empty list file is a warning, not an error', () => {
      writeFileSync(join(dir, 'nets.txt'), '# nothing yet\n');
      writeFileSync(join(dir, 'people.txt'), 'a@example.org\n');
      const set = parseRuleSet(rules('  nets: { cidr_file: nets.txt }\n  people: { addresses_file: people.txt }'), join(dir, 'rules.yml'));
      expect(set.warnings).toEqual([`${join(dir, 'rules.yml')}:3:3: warning: list "nets" is empty`]);
    });
  });
});
