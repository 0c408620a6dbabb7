// File-name and MIME-type globs (`*.exe`, `application/x-ms*`) as linear-time patterns.
//
// Globs meet names the client chooses (an attachment's file name may be kilobytes long); a glob
// library's backtracking regex for `*a*a*a*b` takes polynomial time in such a name. Translated to
// RE2 (src/rules/pattern.ts) every glob matches in time linear in the name.
import { compilePattern, type TextPattern } from './pattern';

/**
 * `*` any run of characters (a `/` too: names are matched whole), `?` one character, `[abc]`,
 * `[a-z]` and `[!abc]` one of (or none of) a set, `{exe,scr}` one of the alternatives; the rest
 * literal, any case. A problem text when the glob is malformed.
 */
export function compileGlob(glob: string): TextPattern | string {
  let source = '';
  let braces = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close === -1) return `glob ${JSON.stringify(glob)}: "[" without "]"`;
      let set = glob.slice(i + 1, close);
      const negated = set.startsWith('!') || set.startsWith('^');
      if (negated) set = set.slice(1);
      source += `[${negated ? '^' : ''}${set.replace(/[\\\]^[]/g, '\\$&')}]`;
      i = close;
    } else if (c === '{') {
      braces++;
      source += '(?:';
    } else if (c === '}' && braces > 0) {
      braces--;
      source += ')';
    } else if (c === ',' && braces > 0) source += '|';
    else source += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  if (braces > 0) return `glob ${JSON.stringify(glob)}: "{" without "}"`;
  const pattern = compilePattern(`^(?s:${source})$`);
  return typeof pattern === 'string' ? `glob ${JSON.stringify(glob)}: ${pattern}` : { source: glob, test: pattern.test };
}
