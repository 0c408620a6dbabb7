// Named lists of CIDRs, domains, addresses or patterns, written inline or read from files, compiled to sets.
import { readFileSync } from 'node:fs';
import { BlockList } from 'node:net';
import { dirname, isAbsolute, join } from 'node:path';
import type { SourceLocation } from './rule-set';
import { compilePattern, type TextPattern } from './pattern';
import { parseCidr, type Cidr } from '../net/cidr';
import { canonicalIpv4Value, normaliseAddress, normaliseHost, normaliseIp } from '../net/normalise';
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
 * IPv4 networks as sets of masked values, one set per prefix length in the list: a client is
 * checked with one lookup per distinct prefix length, whatever the list's size, and without
 * objects (Node's BlockList made a SocketAddress per check: 2 % of the CPU of an envelope session).
 * IPv6 goes to Node's BlockList. Addresses are normalised first so ::ffff:a.b.c.d meets IPv4 entries;
 * one family per structure, so `::/0` never matches IPv4 clients (Node's BlockList would let it,
 * through the mapped range), which is not what someone writing an IPv6 network means.
 */
class CidrSet implements ValueSet {
  /** Prefix length -> network values (the address with its host bits cleared). */
  private readonly v4 = new Map<number, Set<number>>();
  private readonly v6 = new BlockList();
  size = 0;
  add(cidr: Cidr): void {
    if (cidr.family === 'ipv4') {
      const networks = this.v4.get(cidr.prefix) ?? new Set<number>();
      networks.add(maskIpv4(canonicalIpv4Value(cidr.address)!, cidr.prefix));
      this.v4.set(cidr.prefix, networks);
    } else {
      this.v6.addSubnet(cidr.address, cidr.prefix, 'ipv6');
    }
    this.size++;
  }
  has(ip: string): boolean {
    const value = canonicalIpv4Value(ip);
    if (value !== undefined) return this.hasIpv4(value);
    const address = normaliseIp(ip);
    if (address === undefined) return false;
    const mapped = canonicalIpv4Value(address);
    return mapped !== undefined ? this.hasIpv4(mapped) : this.v6.check(address, 'ipv6');
  }
  private hasIpv4(value: number): boolean {
    for (const [prefix, networks] of this.v4) if (networks.has(maskIpv4(value, prefix))) return true;
    return false;
  }
}

/** The network of a 32-bit address value: its first `prefix` bits (unsigned; a shift by 32 is a no-op in JS, hence 0). */
function maskIpv4(value: number, prefix: number): number {
  return prefix === 0 ? 0 : (value & (0xffffffff << (32 - prefix))) >>> 0;
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
