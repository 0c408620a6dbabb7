// Rule patterns on the hot path: V8's RegExp (backtracking) against RE2JS (linear time, what
// compilePattern uses), on realistic patterns and values of typical and worst-case (320) length,
// then the hostile patterns of issue 19 on RE2JS, and V8's time on them at growing lengths.
//
// Run (ts-node is not a dependency, so compile into the git-ignored bench/results/tmp):
//   npx tsc -p tsconfig.json --outDir bench/results/tmp && node bench/results/tmp/bench/regex-bench.js [rounds]
// `rounds` (default 20,000) passes over every value with every pattern. Prints figures; asserts nothing.
import { performance } from 'node:perf_hooks';
import { DEFAULT_DYNAMIC_PTR_PATTERNS } from '../src/dns/reverse-dns';
import { compilePattern, type TextPattern } from '../src/rules/pattern';

/** Patterns of the kind the README and shipped rules show: HELO checks, sender shapes, the reverse-DNS defaults. */
const REALISTIC = [
  '^localhost$',
  '^\\[?[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+\\]?$',
  '\\.example\\.(com|net)$',
  '^[a-z0-9]{20,}@',
  '^(bounce|noreply|no-reply)[-+.]',
  '\\b(dyn|dynamic|dhcp|dsl|cable|pool|ppp)\\b',
  ...DEFAULT_DYNAMIC_PTR_PATTERNS,
];

const HOSTILE = ['(a+)+$', '(x|x)*y', '^(\\w+\\s?)*$'];

/** A repeatable pseudo-random host-name-like string (xorshift), so runs compare. */
function hostLike(length: number, seed: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789.-';
  let x = seed;
  let s = '';
  while (s.length < length) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    s += alphabet[(x >>> 0) % alphabet.length];
  }
  return s;
}

const TYPICAL = ['mail.example.org', 'host-1-2-3-4.dyn.isp.example', 'LOCALHOST', 'c-24-5-6-7.hsd1.ca.comcast.net', 'newsletter@shop.example.com', '[192.0.2.7]'];
const LONG = ['a'.repeat(320), hostLike(320, 1), hostLike(320, 2), `${hostLike(300, 3)}@example.com`.slice(0, 320)];

type Tester = (value: string) => boolean;

function v8(source: string): Tester {
  const re = new RegExp(source, 'i');
  return (value) => re.test(value);
}

function re2(source: string): Tester {
  const pattern = compilePattern(source);
  if (typeof pattern === 'string') throw new Error(pattern);
  return (value) => (pattern as TextPattern).test(value);
}

/** Nanoseconds per test over `rounds` passes; the answers are checked against V8's first. */
function nsPerTest(testers: Tester[], values: string[], rounds: number): number {
  let sink = 0;
  for (let i = 0; i < 200; i++) for (const v of values) for (const t of testers) sink += t(v) ? 1 : 0; // warm-up
  const start = performance.now();
  for (let i = 0; i < rounds; i++) for (const v of values) for (const t of testers) sink += t(v) ? 1 : 0;
  const elapsed = performance.now() - start;
  if (sink < 0) console.log(sink);
  return (elapsed * 1e6) / (rounds * values.length * testers.length);
}

function main(): void {
  const rounds = Number(process.argv[2] ?? 20_000);
  const engines = { v8: REALISTIC.map(v8), re2js: REALISTIC.map(re2) };
  for (const value of [...TYPICAL, ...LONG]) {
    const a = engines.v8.map((t) => t(value)).join();
    const b = engines.re2js.map((t) => t(value)).join();
    if (a !== b) throw new Error(`engines disagree on ${JSON.stringify(value)}: ${a} / ${b}`);
  }
  console.log(`node ${process.version}, ${REALISTIC.length} realistic patterns, ${rounds} rounds`);
  console.log('values               V8 RegExp ns/test   RE2JS ns/test   ratio');
  for (const [label, values] of [['typical (9-30 ch.)', TYPICAL], ['320 characters', LONG]] as const) {
    const a = nsPerTest(engines.v8, [...values], rounds);
    const b = nsPerTest(engines.re2js, [...values], Math.ceil(rounds / 4));
    console.log(`${label.padEnd(20)} ${a.toFixed(0).padStart(10)} ${b.toFixed(0).padStart(15)} ${(b / a).toFixed(1).padStart(7)}x`);
  }
  console.log('\nhostile patterns on RE2JS, worst 320-character value, 1,000 tests: the first (RE2JS builds its DFA states), the median, the longest (GC and scheduling included)');
  for (const source of HOSTILE) {
    const t = re2(source);
    const value = (source.includes('x') ? 'x' : 'a').repeat(319) + '!';
    const times: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const start = performance.now();
      t(value);
      times.push(performance.now() - start);
    }
    const first = times[0];
    times.sort((a, b) => a - b);
    console.log(`${source.padEnd(14)} first ${first.toFixed(3)} ms, median ${times[500].toFixed(3)} ms, longest ${times[999].toFixed(3)} ms`);
  }
  console.log('\nthe same on V8 RegExp, growing length (each 2 more characters ~ doubles or more)');
  for (const source of HOSTILE) {
    const t = v8(source);
    const cells: string[] = [];
    for (const length of [16, 20, 24, 26]) {
      const value = (source.includes('x') ? 'x' : 'a').repeat(length - 1) + '!';
      const start = performance.now();
      t(value);
      cells.push(`${length} ch. ${(performance.now() - start).toFixed(1)} ms`);
    }
    console.log(`${source.padEnd(14)} ${cells.join(', ')}`);
  }
}

main();
