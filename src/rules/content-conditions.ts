// The conditions on the message itself: keyword phrases in headers and body text, attachments.
import type { AttachmentInfo, MessageContent } from '../content/message-content';
import { compileGlob } from './glob';
import { compilePattern, type TextPattern } from './pattern';
import type { Facts } from './rule-set';
import type { AttachmentSpec, KeywordsSpec, NodePath, RulesSource } from './schema';

type MatchMode = 'contains' | 'exact' | 'starts' | 'ends';

interface Phrase {
  /** Lower case unless case-sensitive; whitespace runs collapsed to one space, as the text searched. */
  readonly text: string;
  readonly match: MatchMode;
  readonly caseSensitive: boolean;
}

/** What the phrases are looked for in: header values (all, or the named fields), the body text. */
interface KeywordScope {
  readonly headers: boolean;
  readonly headerNames: ReadonlySet<string> | undefined;
  readonly body: boolean;
  /** The same for every rule that looks in the same places: their rules share one searched text per message. */
  readonly id: string;
}

/**
 * SMTPTracker's keyword filter: true when at least `threshold` distinct phrases occur. `exact`,
 * `starts` and `ends` compare with a whole header value or a whole line of the body text;
 * `contains` looks inside a value, or anywhere in the body text (a phrase may span a line break).
 */
export function compileKeywords(spec: KeywordsSpec, at: NodePath, source: RulesSource): { test: (f: Facts) => boolean; readsBody: boolean } {
  const places = new Set(spec.in ?? ['headers', 'body']);
  const headerNames = spec.headers ? [...new Set(spec.headers.map((h) => h.toLowerCase()))].sort() : undefined;
  const scope: KeywordScope = {
    headers: places.has('headers'),
    headerNames: headerNames ? new Set(headerNames) : undefined,
    body: places.has('body'),
    id: `${places.has('headers') ? 'h' : ''}${places.has('body') ? 'b' : ''}:${headerNames?.join(',') ?? '*'}`,
  };
  if (spec.headers && !scope.headers) source.error([...at, 'headers'], 'headers names fields to search, but "in" does not include headers');
  const phrases = spec.phrases.map((p): Phrase => {
    const written = typeof p === 'string' ? { text: p } : p;
    const caseSensitive = written.case_sensitive ?? false;
    const text = collapse(written.text);
    return { text: caseSensitive ? text : text.toLowerCase(), match: written.match ?? 'contains', caseSensitive };
  });
  const threshold = spec.threshold ?? 1;
  if (threshold > phrases.length) source.error([...at, 'threshold'], `threshold ${threshold} is more than the ${phrases.length} phrases: the condition can never hold`);
  const test = (f: Facts): boolean => {
    const content = f.content;
    if (content === undefined) return false;
    const haystack = haystackOf(content, scope);
    let found = 0;
    for (const phrase of phrases) {
      if (occurs(phrase, haystack) && ++found >= threshold) return true;
    }
    return false;
  };
  return { test, readsBody: scope.body };
}

/**
 * The searched text of one message for one scope, built once per message and scope and only in the
 * forms some phrase needs (a 1 MiB body text is not copied four times for a header phrase).
 */
class Haystack {
  private unitsCache: readonly string[] | undefined;
  private unitsLowerCache: readonly string[] | undefined;
  private spansCache: readonly string[] | undefined;
  private spansLowerCache: readonly string[] | undefined;
  private headerValuesCache: readonly string[] | undefined;

  constructor(
    private readonly content: MessageContent,
    private readonly scope: KeywordScope,
  ) {}

  /** Header values and body lines: what exact, starts and ends compare with. */
  units(lower: boolean): readonly string[] {
    this.unitsCache ??= [...this.headerValues(), ...this.bodyLines()];
    return lower ? (this.unitsLowerCache ??= this.unitsCache.map((u) => u.toLowerCase())) : this.unitsCache;
  }

  /** Header values, and the body text as one string: what contains searches. */
  spans(lower: boolean): readonly string[] {
    this.spansCache ??= [...this.headerValues(), ...(this.scope.body && this.content.text.length > 0 ? [collapse(this.content.text)] : [])];
    return lower ? (this.spansLowerCache ??= this.spansCache.map((u) => u.toLowerCase())) : this.spansCache;
  }

  private headerValues(): readonly string[] {
    if (!this.scope.headers) return [];
    if (!this.headerValuesCache) {
      const fields = this.scope.headerNames ? this.content.headers.filter((f) => this.scope.headerNames!.has(f.name.toLowerCase())) : this.content.headers;
      this.headerValuesCache = fields.map((f) => collapse(f.value));
    }
    return this.headerValuesCache;
  }

  private bodyLines(): string[] {
    if (!this.scope.body || this.content.text.length === 0) return [];
    return this.content.text.split('\n').map(collapse).filter((line) => line.length > 0);
  }
}

const haystacks = new WeakMap<MessageContent, Map<string, Haystack>>();

function haystackOf(content: MessageContent, scope: KeywordScope): Haystack {
  let byScope = haystacks.get(content);
  if (!byScope) haystacks.set(content, (byScope = new Map()));
  let haystack = byScope.get(scope.id);
  if (!haystack) byScope.set(scope.id, (haystack = new Haystack(content, scope)));
  return haystack;
}

function occurs(phrase: Phrase, haystack: Haystack): boolean {
  const lower = !phrase.caseSensitive;
  switch (phrase.match) {
    case 'exact':
      return haystack.units(lower).includes(phrase.text);
    case 'starts':
      return haystack.units(lower).some((u) => u.startsWith(phrase.text));
    case 'ends':
      return haystack.units(lower).some((u) => u.endsWith(phrase.text));
    case 'contains':
      return haystack.spans(lower).some((s) => s.includes(phrase.text));
  }
}

/** Whitespace runs (folding, line breaks in the body, tabs) count as one space; ends trimmed. */
function collapse(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Suffixes that make a second extension harmless: `report.tar.gz` is one archive, not a disguise. */
const WRAPPER_EXTENSIONS = new Set(['gz', 'bz2', 'xz', 'zst', 'lz', 'lzma', 'z', 'sig', 'asc', 'p7s', 'p7m']);

/**
 * Qmail-Scanner's attachment policy: true when one attachment (at any depth) meets every field.
 * `find` names it, for the reply text's `{attachment}`.
 */
export function compileAttachment(spec: AttachmentSpec, at: NodePath, source: RulesSource): { test: (f: Facts) => boolean; find: (f: Facts) => string | undefined } {
  const tests: Array<(a: AttachmentInfo, name: string | undefined) => boolean> = [];
  if (spec.name) {
    const globs = globsOf(spec.name, [...at, 'name'], source);
    tests.push((_a, name) => name !== undefined && globs.some((g) => g.test(name)));
  }
  if (spec.name_matches !== undefined) {
    const pattern = compilePattern(spec.name_matches);
    if (typeof pattern === 'string') source.error([...at, 'name_matches'], pattern);
    else tests.push((_a, name) => name !== undefined && pattern.test(name));
  }
  if (spec.double_extension !== undefined) {
    const wanted = spec.double_extension;
    tests.push((_a, name) => hasDoubleExtension(name) === wanted);
  }
  if (spec.type) {
    const types = globsOf(spec.type, [...at, 'type'], source);
    tests.push((a) => types.some((g) => g.test(a.type)));
  }
  if (spec.size) {
    const over = spec.size.over;
    tests.push((a) => a.size > over);
  }
  const find = (f: Facts): string | undefined => {
    for (const attachment of f.content?.attachments ?? []) {
      const name = matchedName(attachment.name);
      if (tests.every((t) => t(attachment, name))) return attachment.name ?? `(unnamed ${attachment.type})`;
    }
    return undefined;
  };
  return { test: (f) => find(f) !== undefined, find };
}

function globsOf(globs: readonly string[], at: NodePath, source: RulesSource): TextPattern[] {
  const compiled: TextPattern[] = [];
  globs.forEach((glob, i) => {
    const pattern = compileGlob(glob);
    if (typeof pattern === 'string') source.error([...at, i], pattern);
    else compiled.push(pattern);
  });
  return compiled;
}

/**
 * The name as a file system would keep it: the last path segment (some clients send C:\dir\x.exe),
 * without the trailing dots and spaces Windows drops (`x.exe.` runs as x.exe).
 */
function matchedName(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const base = name.split(/[\\/]/).pop() ?? '';
  const trimmed = base.replace(/[.\s\0]+$/, '');
  return trimmed.length > 0 ? trimmed : undefined;
}

function hasDoubleExtension(name: string | undefined): boolean {
  if (name === undefined) return false;
  const m = /\.([^.\s]{1,8})\s*\.([^.\s]{1,8})$/.exec(name);
  return m !== null && !WRAPPER_EXTENSIONS.has(m[2]!.toLowerCase());
}
