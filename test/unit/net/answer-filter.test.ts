// Postscreen-style answer filters: what parses, what each matches, and what a bad one reports.
import { anyFilterMatches, parseAnswerFilter, type AnswerFilter } from '../../../src/net/answer-filter';

function filter(text: string): AnswerFilter {
  const parsed = parseAnswerFilter(text);
  if (typeof parsed === 'string') throw new Error(`"${text}" was refused: ${parsed}`);
  return parsed;
}

describe('parseAnswerFilter matches', () => {
  test.each([
    ['127.0.0.2', ['127.0.0.2'], ['127.0.0.3', '127.0.0.1', '127.0.1.2']],
    ['127.0.0.[2..11]', ['127.0.0.2', '127.0.0.7', '127.0.0.11'], ['127.0.0.1', '127.0.0.12', '127.0.1.2']],
    ['127.0.[0..255].[1;3]', ['127.0.0.1', '127.0.200.3', '127.0.255.1'], ['127.0.0.2', '127.1.0.1']],
    ['127.0.0.[2..4;10]', ['127.0.0.2', '127.0.0.4', '127.0.0.10'], ['127.0.0.5', '127.0.0.9', '127.0.0.11']],
    ['127.0.0.[ 2 .. 3 ; 9 ]', ['127.0.0.3', '127.0.0.9'], ['127.0.0.4']],
    ['127.0.0.0/24', ['127.0.0.0', '127.0.0.2', '127.0.0.255'], ['127.0.1.0', '126.0.0.2']],
    ['127.0.0.0/8', ['127.255.0.1', '127.0.0.2'], ['128.0.0.1']],
    ['127.0.0.4/30', ['127.0.0.4', '127.0.0.7'], ['127.0.0.3', '127.0.0.8']],
    ['0.0.0.0/0', ['127.0.0.2', '8.8.8.8'], []],
    ['127.0.0.2/32', ['127.0.0.2'], ['127.0.0.3']],
  ])('%s', (text, yes, no) => {
    const f = filter(text);
    expect(f.source).toBe(text);
    for (const ip of yes) expect([ip, f.matches(ip)]).toEqual([ip, true]);
    for (const ip of no) expect([ip, f.matches(ip)]).toEqual([ip, false]);
  });

  test('a filter never matches something that is not an IPv4 address', () => {
    const f = filter('127.0.0.[0..255]');
    expect(f.matches('::ffff:127.0.0.2')).toBe(false);
    expect(f.matches('127.0.0')).toBe(false);
    expect(f.matches('')).toBe(false);
    expect(filter('127.0.0.0/8').matches('2001:db8::1')).toBe(false);
  });

  test('surrounding whitespace is trimmed', () => {
    expect(filter('  127.0.0.2 ').source).toBe('127.0.0.2');
  });
});

describe('parseAnswerFilter problems', () => {
  test.each([
    ['', 'is empty'],
    ['   ', 'is empty'],
    ['127.0.0', 'is not four octets'],
    ['127.0.0.2.5', 'is not four octets'],
    ['127..0.2', 'is not four octets'],
    ['127.0.0.[2..11', 'is not four octets'],
    ['127.0.0.2..11]', 'is not four octets'],
    ['127.0.0.256', '"256" is not an octet'],
    ['127.0.0.x', '"x" is not an octet'],
    ['127.0.0.-1', 'is not an octet'],
    ['127.0.0.[]', 'lists no values'],
    ['127.0.0.[11..2]', 'runs backwards'],
    ['127.0.0.[2..300]', 'is not an octet or a range'],
    ['127.0.0.[2...4]', 'is not an octet or a range'],
    ['127.0.0.[2..3..4]', 'is not an octet or a range'],
    ['127.0.0.[2;;4]', 'is not an octet or a range'],
    ['127.0.0.0/33', 'invalid prefix length'],
    ['127.0.0.0/', 'invalid prefix length'],
    ['nonsense/8', 'is not an IP address or CIDR'],
    ['::1/128', 'is IPv6'],
    ['10.0.0.1', 'can never match'],
    ['10.0.0.0/8', 'can never match'],
    ['[0..126].0.0.1', 'can never match'],
    ['128.0.0.0/1', 'can never match'],
  ])('%j -> %s', (text, fragment) => {
    const problem = parseAnswerFilter(text);
    expect(typeof problem).toBe('string');
    expect(problem).toContain(fragment);
  });

  test('a problem names the filter as written', () => {
    expect(parseAnswerFilter('127.0.0.[9..3]')).toBe('answer filter "127.0.0.[9..3]": range "9..3" in "[9..3]" runs backwards');
  });

  test('filters overlapping 127.0.0.0/8 from outside are accepted', () => {
    expect(typeof parseAnswerFilter('[100..200].0.0.2')).toBe('object');
    expect(typeof parseAnswerFilter('64.0.0.0/2')).toBe('object');
  });
});

describe('anyFilterMatches', () => {
  test('no filters accept any answer', () => {
    expect(anyFilterMatches([], '127.0.0.9')).toBe(true);
  });

  test('a list of filters matches if any one does', () => {
    const filters = [filter('127.0.0.2'), filter('127.0.0.[10..11]')];
    expect(anyFilterMatches(filters, '127.0.0.2')).toBe(true);
    expect(anyFilterMatches(filters, '127.0.0.11')).toBe(true);
    expect(anyFilterMatches(filters, '127.0.0.3')).toBe(false);
  });
});
