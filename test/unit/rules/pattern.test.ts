// Rule patterns on the linear-time engine: the syntax kept, what is refused and why, hostile patterns answered.
import { compilePattern, MAX_PATTERN_PROGRAM_SIZE, type TextPattern } from '../../../src/rules/pattern';

function compiled(source: string): TextPattern {
  const pattern = compilePattern(source);
  if (typeof pattern === 'string') throw new Error(pattern);
  return pattern;
}

/** The HELO name's bound in the facts: clients choose up to 320 characters. */
const LONG = 320;

describe('compilePattern', () => {
  test('matches unanchored and case-insensitively, as the rules always did', () => {
    const p = compiled('^mx[0-9]+\\.');
    expect(p.source).toBe('^mx[0-9]+\\.');
    expect(['MX1.example.org', 'mx22.x', 'relay.mx1.example'].map((v) => p.test(v))).toEqual([true, true, false]);
    expect(compiled('dsl').test('host.ADSL.example')).toBe(true);
    expect(compiled('^$').test('')).toBe(true);
  });

  test('keeps the common JavaScript and PCRE syntax: classes, \\b, \\d, counted repeats, non-capturing and named groups', () => {
    expect(compiled('\\b(dyn|pool)\\b').test('x.pool.example')).toBe(true);
    expect(compiled('\\b(dyn|pool)\\b').test('x.whirlpool.example')).toBe(false);
    expect(compiled('^\\d{1,3}(?:-\\d{1,3}){3}\\.').test('10-1-2-3.isp.example')).toBe(true);
    expect(compiled('^(?<local>[a-z]{20,})@').test('abcdefghijklmnopqrstu@example.org')).toBe(true);
    expect(compiled('\\/\\-\\.').test('a/-.b')).toBe(true);
    expect(compiled('\\x41\\p{Greek}').test('aλ')).toBe(true);
  });

  test.each([
    ['lookahead', '^(?!mail\\.)', /`\(\?!`.*lookaround and backreferences have no linear-time match/],
    ['positive lookahead', 'a(?=b)', /`\(\?=`.*lookaround/],
    ['lookbehind', '(?<=@)example', /invalid named capture: `\(\?<=@\)example`.*lookaround/],
    ['backreference', '^(\\w+)\\.\\1$', /invalid escape sequence: `\\1`.*backreferences/],
    ['\\u escape', '\\u0041', /invalid escape sequence: `\\u` \(write a code point as \\x\{41\}\)/],
    ['repeat over 1,000', 'a{1001}', /invalid repeat count: `\{1001\}`/],
    ['unclosed class', '[a-', /^invalid regular expression "\[a-": missing closing \]/],
  ])('refuses %s with the construct and the reason', (_what, source, message) => {
    const problem = compilePattern(source);
    expect(typeof problem).toBe('string');
    expect(problem).toMatch(message);
  });

  test(`refuses a program over ${MAX_PATTERN_PROGRAM_SIZE} instructions, naming its size`, () => {
    expect(compilePattern('(?:a?){1000}(?:b?){1000}(?:c?){1000}(?:d?){1000}(?:e?){1000}(?:f?){1000}x')).toMatch(/is too large: 12003 instructions compiled \(at most 10000\)/);
    expect(typeof compilePattern('(?:a?){1000}(?:b?){1000}(?:a?){1000}(?:\\w?){1000}x')).toBe('object'); // 8,003
  });

  // Each of these backtracks exponentially in V8 on such input (issue 19); here each is one linear
  // pass. Correct answers on the 320-character worst case are what this asserts; the time per test
  // is measured by bench/regex-bench.ts, and the integration test watches the event loop.
  test.each([
    ['(a+)+$', "319 a's and !", false, 'a'.repeat(LONG - 1) + '!'],
    ['(a+)+$', "320 a's", true, 'a'.repeat(LONG)],
    ['(x|x)*y', "320 x's", false, 'x'.repeat(LONG)],
    ['(x|x)*y', "319 x's and y", true, 'x'.repeat(LONG - 1) + 'y'],
    ['^(\\w+\\s?)*$', "319 a's and !", false, 'a'.repeat(LONG - 1) + '!'],
    ['^(\\w+\\s?)*$', '"ab " 106 times and "ab"', true, 'ab '.repeat(106) + 'ab'],
  ])('hostile %s against %s answers %s', (source, _what, expected, value) => {
    expect(value.length).toBe(LONG);
    expect(compiled(source).test(value)).toBe(expected);
  });

  test('case folding is Unicode simple folding: the Kelvin sign and long s fold to k and s (documented)', () => {
    expect(compiled('^kelvin$').test('\u212Aelvin')).toBe(true);
    expect(compiled('^s$').test('\u017F')).toBe(true);
    expect(new RegExp('^s$', 'i').test('\u017F')).toBe(false); // what the JavaScript engine did before
  });
});
