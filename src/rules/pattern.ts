// Operator regexes on a linear-time engine (RE2JS), so that no client-chosen fact can make one backtrack.
import { RE2JS, RE2JSException } from 're2js';

/**
 * What a rule, a `patterns` list or a reverse-DNS `dynamic` entry tests a value with. Facts are up
 * to 320 characters that the client chooses (a HELO name, a sender); on a backtracking engine
 * `(a+)+$` against one of them runs for longer than the universe, stalling every connection of the
 * event loop. RE2's automaton takes time linear in the input whatever the pattern.
 */
export interface TextPattern {
  /** As written in the rules, for logs and check-rules. */
  readonly source: string;
  /** True when the pattern matches anywhere in the value (unanchored, as RegExp.test). */
  test(value: string): boolean;
}

/**
 * Compiled-program bound. RE2 already refuses repeat counts over 1,000; this caps the rest
 * (long alternations, several large counted repeats). The largest program the bench tried,
 * 8,003 instructions, took 1.1 ms on a 320-character value on the NFA path.
 */
export const MAX_PATTERN_PROGRAM_SIZE = 10_000;

/**
 * Case-insensitive RE2 pattern, or a problem text naming what is wrong. RE2 refuses what has no
 * linear-time algorithm (lookahead, lookbehind, backreferences), with the construct in the message.
 */
export function compilePattern(source: string): TextPattern | string {
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(source, RE2JS.CASE_INSENSITIVE);
  } catch (error) {
    if (!(error instanceof RE2JSException)) throw error;
    return `invalid regular expression ${JSON.stringify(source)}: ${explain(error.message)}`;
  }
  const size = compiled.programSize();
  if (size > MAX_PATTERN_PROGRAM_SIZE) {
    return `regular expression ${JSON.stringify(source)} is too large: ${size} instructions compiled (at most ${MAX_PATTERN_PROGRAM_SIZE}); split it into list entries`;
  }
  return { source, test: (value) => compiled.test(value) };
}

/** RE2 names the construct; say why it is refused, since JavaScript and PCRE accept it. */
function explain(message: string): string {
  const text = message.replace(/^error parsing regexp: /, '');
  if (/Perl syntax: `\(\?[=!]|named capture: `\(\?<[=!]|escape sequence: `\\[1-9k]`/.test(text)) {
    return `${text} (lookaround and backreferences have no linear-time match, so Floodgate does not support them)`;
  }
  if (/escape sequence: `\\u`/.test(text)) return `${text} (write a code point as \\x{41})`;
  return text;
}
