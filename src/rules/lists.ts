// Named lists of CIDRs, domains, addresses or patterns, written inline or read from files, compiled to sets.
import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { dirname, isAbsolute, join } from 'node:path';
import type { SourceLocation } from './rule-set';
import { compilePattern, type TextPattern } from './pattern';
import { parseCidr, type Cidr } from '../net/cidr';
import { normaliseAddress, normaliseHost, normaliseIp } from '../net/normalise';
import { LIST_KINDS, type ListKind, type ListSpec, type RulesSource } from './schema';

/** A compiled list: membership only. Values are expected normalised (facts are). */
export interface ValueSet {
  readonly size: number;
  has(value: string): boolean;
}

export interface NamedList {
  readonly name: string;
  readonly kind: ListKind;
  readonly set: ValueSet;
}

/** One entry as written, and where to report it if it is bad. */
export interface ListEntry {
  text: string;
  report(message: string): void;
}

/**
 * Node's BlockList does the matching; addresses are normalised first so ::ffff:a.b.c.d meets IPv4
 * entries. One BlockList per family: Node would otherwise let `::/0` match every IPv4 client
 * (through the mapped range), which is not what someone writing an IPv6 network means.
 */
class CidrSet implements ValueSet {
  private readonly v4 = new BlockList();
  private readonly v6 = new BlockList();
  size = 0;
  add(cidr: Cidr): void {
    (cidr.family === 'ipv4' ? this.v4 : this.v6).addSubnet(cidr.address, cidr.prefix, cidr.family);
    this.size++;
  }
  has(ip: string): boolean {
    const address = normaliseIp(ip);
    if (address === undefined) return false;
    return isIP(address) === 4 ? this.v4.check(address, 'ipv4') : this.v6.check(address, 'ipv6');
  }
}

/** A domain matches itself and every subdomain: one set lookup per label, whatever the list's size. */
class DomainSet implements ValueSet {
  private readonly domains = new Set<string>();
  get size(): number {
    return this.domains.size;
  }
  add(domain: string): void {
    this.domains.add(domain);
  }
  has(host: string): boolean {
    for (let name = host; ; ) {
      if (this.domains.has(name)) return true;
      const dot = name.indexOf('.');
      if (dot < 0) return false;
      name = name.slice(dot + 1);
    }
  }
}

class PatternSet implements ValueSet {
  private readonly patterns: TextPattern[] = [];
  get size(): number {
    return this.patterns.length;
  }
  add(pattern: TextPattern): void {
    this.patterns.push(pattern);
  }
  has(value: string): boolean {
    return this.patterns.some((p) => p.test(value));
  }
}

/** A domain entry, or a problem: '*.' and leading dots are refused because every entry already covers its subdomains. */
function parseDomain(text: string): string | { problem: string } {
  const domain = normaliseHost(text);
  if (domain === '' || /[\s@*/,[\]]/.test(domain) || domain.startsWith('.') || domain.includes('..')) {
    return { problem: `"${text}" is not a domain (write example.com; it also matches its subdomains)` };
  }
  return domain;
}

/** Compiles entries of one kind into a set, reporting each bad entry at its own position. */
export function buildSet(kind: ListKind, entries: readonly ListEntry[]): ValueSet {
  switch (kind) {
    case 'cidr': {
      const set = new CidrSet();
      for (const e of entries) {
        const cidr = parseCidr(e.text);
        if (typeof cidr === 'string') e.report(cidr);
        else set.add(cidr);
      }
      return set;
    }
    case 'domains': {
      const set = new DomainSet();
      for (const e of entries) {
        const domain = parseDomain(e.text);
        if (typeof domain === 'string') set.add(domain);
        else e.report(domain.problem);
      }
      return set;
    }
    case 'addresses': {
      const set = new Set<string>();
      for (const e of entries) {
        const address = normaliseAddress(e.text);
        if (address === '' || /\s/.test(address)) e.report(`"${e.text}" is not an address`);
        else set.add(address);
      }
      return set;
    }
    case 'patterns': {
      const set = new PatternSet();
      for (const e of entries) {
        const pattern = compilePattern(e.text);
        if (typeof pattern === 'string') e.report(pattern);
        else set.add(pattern);
      }
      return set;
    }
  }
}

/**
 * The entries of a list file: one per line; `#` starts a comment at the start of a line or after
 * whitespace (so a pattern may still contain `#`); blank lines are skipped.
 */
export function listFileEntries(text: string, file: string, report: (at: SourceLocation, message: string) => void): ListEntry[] {
  const entries: ListEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const content = raw.replace(/(^|\s)#.*$/, '');
    const trimmed = content.trim();
    if (trimmed === '') return;
    const at = { file, line: i + 1, column: content.length - content.trimStart().length + 1 };
    entries.push({ text: trimmed, report: (message) => report(at, message) });
  });
  return entries;
}

/** Every list of the rules file by name; a bad list is reported and left out. */
export function compileLists(specs: Record<string, ListSpec> | undefined, source: RulesSource): Map<string, NamedList> {
  const lists = new Map<string, NamedList>();
  for (const [name, spec] of Object.entries(specs ?? {})) {
    const fields = Object.keys(spec);
    if (fields.length !== 1) {
      const choices = LIST_KINDS.flatMap((k) => [k, `${k}_file`]).join(', ');
      source.error(['lists', name], `list "${name}" needs exactly one of ${choices}`, true);
      continue;
    }
    const field = fields[0] as keyof ListSpec;
    const kind = field.replace(/_file$/, '') as ListKind;
    const entries = field.endsWith('_file') ? fileEntries(spec[field] as string, ['lists', name, field], source) : inlineEntries(spec[field] as string[], ['lists', name, field], source);
    if (entries === undefined) continue;
    if (entries.length === 0) source.warn(['lists', name], `list "${name}" is empty`, true);
    lists.set(name, { name, kind, set: buildSet(kind, entries) });
  }
  return lists;
}

/** Entries of an inline sequence, each reported at its own element. */
export function inlineEntries(values: readonly string[], path: ReadonlyArray<string | number>, source: RulesSource): ListEntry[] {
  return values.map((text, i) => ({ text: text.trim(), report: (message: string) => source.error([...path, i], message) }));
}

export function fileEntries(path: string, at: ReadonlyArray<string | number>, source: RulesSource): ListEntry[] | undefined {
  // Relative to the rules file, so a rules directory can be moved or shipped as a whole.
  const file = isAbsolute(path) ? path : join(dirname(source.file), path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    source.error(at, `cannot read list file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    return undefined;
  }
  return listFileEntries(text, file, (location, message) => source.errorAt(location, message));
}
