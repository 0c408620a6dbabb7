// Attachment-name and MIME-type globs: the usual syntax, any case, and linear time on hostile names.
import { compileGlob } from '../../../src/rules/glob';
import type { TextPattern } from '../../../src/rules/pattern';

const glob = (g: string): TextPattern => {
  const compiled = compileGlob(g);
  if (typeof compiled === 'string') throw new Error(compiled);
  return compiled;
};

test('stars, question marks, sets, negated sets and alternatives, any case, whole name', () => {
  expect(glob('*.exe').test('Setup.EXE')).toBe(true);
  expect(glob('*.exe').test('setup.exe.txt')).toBe(false);
  expect(glob('*.exe').test('.exe')).toBe(true);
  expect(glob('invoice-??.zip').test('invoice-12.zip')).toBe(true);
  expect(glob('invoice-??.zip').test('invoice-123.zip')).toBe(false);
  expect(glob('report[0-9].pdf').test('report7.pdf')).toBe(true);
  expect(glob('report[!0-9].pdf').test('report7.pdf')).toBe(false);
  expect(glob('*.{exe,scr,vbs}').test('x.vbs')).toBe(true);
  expect(glob('*.{exe,scr,vbs}').test('x.js')).toBe(false);
  expect(glob('application/x-ms*').test('application/x-msdownload')).toBe(true);
  // Regex characters are literal: "a+b.(1)" is a name, not a pattern.
  expect(glob('a+b.(1)').test('a+b.(1)')).toBe(true);
  expect(glob('a+b.(1)').test('aab.(1)')).toBe(false);
  expect(glob('line*').test('line one\nline two')).toBe(true);
});

test('malformed globs are named', () => {
  expect(compileGlob('[abc')).toMatch(/"\[" without "]"/);
  expect(compileGlob('{a,b')).toMatch(/"\{" without "}"/);
});

test('a glob of many stars against a 100,000-character name answers (a backtracking engine would not)', () => {
  const name = 'a'.repeat(100_000);
  expect(glob('*a*a*a*a*a*a*b').test(name)).toBe(false);
  expect(glob('*a*a*a*a*a*a*').test(name)).toBe(true);
});
