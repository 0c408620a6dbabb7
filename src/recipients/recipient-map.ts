// The in-memory table of known recipients and its Postfix-style lookup (extension, catch-all, bare local part).
import { FloodgateError } from '../errors';
import { domainOf, MAX_ADDRESS_LENGTH, normaliseAddress, normaliseHost } from '../net/normalise';

/** The error of this layer: a map that cannot be read, parsed or built, with the file and line where there is one. */
export class RecipientMapError extends FloodgateError {
  declare readonly code: 'FG_ERR_RECIPIENT_MAP';
  constructor(message: string) {
    super('FG_ERR_RECIPIENT_MAP', message);
  }
}

export interface RecipientMapOptions {
  /**
   * Postfix's recipient_delimiter: a SET of characters, any of which separates the user from the
   * extension (`+-` splits both `joe+x` and `joe-x`), as in Postfix 2.11 and later. '' turns
   * extension stripping off. Default '+'.
   */
  delimiter?: string;
  /** Domains judged even if no key names them (a domain whose every user is missing from the map is then refused). */
  domains?: readonly string[];
}

export const DEFAULT_DELIMITER = '+';

/**
 * Local parts Postfix never splits at the delimiter (global/split_addr.c), so `owner-list` with
 * '-' as delimiter is looked up as `owner-list`, not `owner`.
 */
const NEVER_SPLIT = new Set(['postmaster', 'mailer-daemon', 'double-bounce']);

/** A built map: immutable, answers in a handful of Set lookups whatever its size. */
export class RecipientMap {
  /** Domains the map judges: those of its keys plus the explicit `domains` option. */
  readonly domains: ReadonlySet<string>;

  /** @internal use RecipientMapBuilder or RecipientMap.from. */
  constructor(
    private readonly addresses: ReadonlySet<string>,
    private readonly localParts: ReadonlySet<string>,
    private readonly catchAll: ReadonlySet<string>,
    domains: ReadonlySet<string>,
    private readonly delimiter: string,
  ) {
    this.domains = domains;
  }

  /** A map of these keys; throws RecipientMapError naming the first bad key or option. */
  static from(keys: Iterable<string>, options: RecipientMapOptions = {}): RecipientMap {
    const builder = new RecipientMapBuilder(options);
    for (const key of keys) {
      const problem = builder.add(key);
      if (problem !== undefined) throw new RecipientMapError(problem);
    }
    return builder.build();
  }

  /** Distinct keys: full addresses, `@domain` catch-alls and bare local parts. */
  get size(): number {
    return this.addresses.size + this.localParts.size + this.catchAll.size;
  }

  /**
   * Whether a recipient exists, as Postfix's relay_recipient_maps / virtual(5) lookup would find
   * it: `user+ext@domain`, `user@domain`, the bare local parts `user+ext` and `user`, then
   * `@domain`. Undefined when the address has no domain or its domain is not one the map
   * judges: the caller must then not reject. Expects a normalised address (lower case, no brackets).
   */
  isKnown(address: string): boolean | undefined {
    const domain = domainOf(address);
    if (domain === undefined || !this.domains.has(domain)) return undefined;
    if (this.catchAll.has(domain)) return true;
    const local = address.slice(0, address.lastIndexOf('@'));
    if (this.addresses.has(`${local}@${domain}`) || this.localParts.has(local)) return true;
    const user = stripExtension(local, this.delimiter);
    return user !== local && (this.addresses.has(`${user}@${domain}`) || this.localParts.has(user));
  }
}

/**
 * The user part of a local part, Postfix's way: cut at the first delimiter character, unless the
 * cut would leave nothing (`+joe`) or the name is one Postfix never splits.
 */
export function stripExtension(local: string, delimiter: string): string {
  if (delimiter === '' || NEVER_SPLIT.has(local)) return local;
  if (delimiter.includes('-') && (local.startsWith('owner-') || (local.length > 8 && local.endsWith('-request')))) return local;
  let cut = -1;
  for (let i = 0; i < local.length; i++) {
    if (delimiter.includes(local[i])) {
      cut = i;
      break;
    }
  }
  return cut > 0 ? local.slice(0, cut) : local;
}

/** Collects keys one by one (so a loader can report each bad one at its line), then freezes them into a RecipientMap. */
export class RecipientMapBuilder {
  private readonly addresses = new Set<string>();
  private readonly localParts = new Set<string>();
  private readonly catchAll = new Set<string>();
  private readonly keyDomains = new Set<string>();
  private readonly explicitDomains = new Set<string>();
  private readonly delimiter: string;
  private built = false;

  /** Throws RecipientMapError on a bad delimiter or domain: those are configuration, not map content. */
  constructor(options: RecipientMapOptions = {}) {
    this.delimiter = checkDelimiter(options.delimiter ?? DEFAULT_DELIMITER);
    for (const name of options.domains ?? []) this.explicitDomains.add(checkDomain(name));
  }

  get size(): number {
    return this.addresses.size + this.localParts.size + this.catchAll.size;
  }

  /** Adds a key (`user@domain`, `@domain` or bare `user`); returns why it was refused, or undefined. */
  add(key: string): string | undefined {
    // The built map shares these sets; adding afterwards would change a map already in use.
    if (this.built) throw new Error('RecipientMapBuilder.add after build');
    if (key.length > MAX_ADDRESS_LENGTH) return `key is longer than ${MAX_ADDRESS_LENGTH} characters, the longest possible address`;
    const address = normaliseAddress(key);
    if (address === '') return `"${key}" is not an address, @domain or local part`;
    const at = address.lastIndexOf('@');
    if (at < 0) {
      this.localParts.add(address);
      return undefined;
    }
    const domain = domainOf(address);
    if (domain === undefined || domain === '') return `"${key}" has no domain after "@"`;
    this.keyDomains.add(domain);
    if (at === 0) this.catchAll.add(domain);
    // Same length means domainOf changed nothing (it only drops a root dot): keep the string already made.
    else this.addresses.add(address.length === at + 1 + domain.length ? address : `${address.slice(0, at)}@${domain}`);
    return undefined;
  }

  /** True when bare local parts were added but no domain is judged: such a map answers nothing. */
  get judgesNothing(): boolean {
    return this.keyDomains.size === 0 && this.explicitDomains.size === 0 && this.localParts.size > 0;
  }

  build(): RecipientMap {
    this.built = true;
    const domains = new Set([...this.keyDomains, ...this.explicitDomains]);
    return new RecipientMap(this.addresses, this.localParts, this.catchAll, domains, this.delimiter);
  }
}

function checkDelimiter(delimiter: string): string {
  if (/[@\s"]/.test(delimiter)) throw new RecipientMapError(`recipient delimiter ${JSON.stringify(delimiter)} must not contain "@", quotes or whitespace`);
  return delimiter.toLowerCase();
}

function checkDomain(name: string): string {
  const domain = normaliseHost(name);
  if (domain === '' || /[\s@]/.test(domain) || domain.startsWith('.')) throw new RecipientMapError(`"${name}" is not a domain`);
  return domain;
}
