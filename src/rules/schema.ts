// The rules file as written: its JSON schema, the TypeScript shape derived from it, and where each node sits in the text.
import type { FromSchema, JSONSchema } from 'json-schema-to-ts';
import { DURATION_PATTERN } from '../config/duration';
import { ConfigError, formatProblem, type SourceProblem } from '../config/errors';
import { compileSchema, YamlSource, type NodePath } from '../config/yaml-source';
import { REVERSE_DNS_STATUSES, type SourceLocation } from './rule-set';

export const EVENTS = ['connect', 'helo', 'mail', 'rcpt', 'header', 'eom'] as const;
export const KEYWORD_MATCHES = ['contains', 'exact', 'starts', 'ends'] as const;
export const LIST_KINDS = ['cidr', 'domains', 'addresses', 'patterns'] as const;
export type ListKind = (typeof LIST_KINDS)[number];

const strings = { type: 'array', items: { type: 'string' } } as const;
const nonEmpty = { type: 'string', minLength: 1 } as const;
/** Either one form or the other; the loader drops ajv's extra "must match then schema" line. */
function either<Test, Then, Else>(test: Test, then: Then, otherwise: Else) {
  return { if: test, then, else: otherwise } as const;
}
// Not the shared durationSchema: its oneOf reports "must be number" for `10 minutes`; this names the pattern.
const durationSchema = either({ type: 'number' } as const, { type: 'number', minimum: 0 } as const, { type: 'string', pattern: DURATION_PATTERN } as const);
const textMatcherProperties = { in: strings, list: nonEmpty, matches: { type: 'string' }, equals: { type: 'string' }, present: { type: 'boolean' } } as const;
const textMatcher = { type: 'object', additionalProperties: false, minProperties: 1, properties: textMatcherProperties } as const;
const ipMatcher = { type: 'object', additionalProperties: false, minProperties: 1, properties: { in: strings, list: nonEmpty } } as const;
const reply = either(
  { type: 'object' } as const,
  {
    type: 'object',
    additionalProperties: false,
    required: ['code'],
    // What the code and text say is checked by formatReplyText in the loader, which gives the better message.
    properties: { code: { anyOf: [{ type: 'string' }, { type: 'number' }] }, ext: { type: 'string' }, text: { anyOf: [{ type: 'string' }, strings] } },
  } as const,
  { enum: [true] } as const,
);
/** A DNS list result: weighted score above/below a bound, or listed on one of the named lists. */
const listingMatcher = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: { above: { type: 'number' }, below: { type: 'number' }, listed_on: { type: 'array', minItems: 1, items: nonEmpty } },
} as const;
// A DNS name: labels of letters, digits, '-' and '_' (zones such as _dmarc-style names exist), dot-separated.
const dnsZone = { type: 'string', pattern: '^(?=.{1,253}\\.?$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\\.)*[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\\.?$' } as const;
const dnsList = {
  type: 'object',
  additionalProperties: false,
  required: ['zone'],
  properties: { zone: dnsZone, answers: { type: 'array', minItems: 1, items: nonEmpty }, weight: { type: 'number' } },
} as const;
const dnsLists = { type: 'object', additionalProperties: dnsList } as const;
const list = {
  type: 'object',
  additionalProperties: false,
  properties: {
    cidr: strings,
    cidr_file: nonEmpty,
    domains: strings,
    domains_file: nonEmpty,
    addresses: strings,
    addresses_file: nonEmpty,
    patterns: strings,
    patterns_file: nonEmpty,
  },
} as const satisfies { type: 'object'; additionalProperties: false; properties: Record<ListKind | `${ListKind}_file`, unknown> };

/** A phrase: a bare string (contains, any case) or one with its match mode and case. */
const phrase = either(
  { type: 'string' } as const,
  nonEmpty,
  { type: 'object', additionalProperties: false, required: ['text'], properties: { text: nonEmpty, match: { enum: KEYWORD_MATCHES }, case_sensitive: { type: 'boolean' } } } as const,
);
const keywords = {
  type: 'object',
  additionalProperties: false,
  required: ['phrases'],
  properties: {
    phrases: { type: 'array', minItems: 1, items: phrase },
    in: { type: 'array', minItems: 1, items: { enum: ['headers', 'body'] } },
    headers: { type: 'array', minItems: 1, items: nonEmpty },
    threshold: { type: 'integer', minimum: 1 },
  },
} as const;
const attachment = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    name: { type: 'array', minItems: 1, items: nonEmpty },
    name_matches: { type: 'string' },
    double_extension: { type: 'boolean' },
    type: { type: 'array', minItems: 1, items: nonEmpty },
    size: { type: 'object', additionalProperties: false, required: ['over'], properties: { over: { type: 'integer', minimum: 0 } } },
  },
} as const;
const headerMark = { type: 'object', additionalProperties: false, required: ['name', 'value'], properties: { name: nonEmpty, value: { type: 'string' } } } as const;

/** Every condition of a `when:` but the two that nest one (`not`, `any`), which the schema adds by reference. */
const whenFields = {
  type: 'object',
  additionalProperties: false,
  properties: {
    client_ip: ipMatcher,
    client_name: textMatcher,
    helo: textMatcher,
    // `null: true` unquoted is a YAML null key, which toJS() turns into '': accept both spellings.
    sender: { ...textMatcher, properties: { ...textMatcherProperties, null: { type: 'boolean' }, '': { type: 'boolean' } } },
    sender_domain: textMatcher,
    recipient: textMatcher,
    recipient_domain: textMatcher,
    auth_user: textMatcher,
    size: { type: 'object', additionalProperties: false, required: ['over'], properties: { over: { type: 'integer', minimum: 0 } } },
    rejected_by_mta: { type: 'boolean' },
    dnsbl: listingMatcher,
    rhsbl: listingMatcher,
    reverse_dns: either({ type: 'string' } as const, { enum: REVERSE_DNS_STATUSES }, { type: 'array', minItems: 1, items: { enum: REVERSE_DNS_STATUSES } } as const),
    recipient_known: { type: 'boolean' },
    keywords,
    attachment,
    unparseable: { type: 'boolean' },
    session_age: { type: 'object', additionalProperties: false, required: ['over'], properties: { over: durationSchema } },
    macros: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        minProperties: 1,
        properties: { matches: { type: 'string' }, equals: { type: 'string' }, present: { type: 'boolean' } },
      },
    },
  },
} as const;
const when = { $ref: '#/$defs/when' } as const;

const threshold = {
  type: 'object',
  additionalProperties: false,
  properties: {
    above: { type: 'number' },
    below: { type: 'number' },
    delay: durationSchema,
    tempfail: reply,
    reject: reply,
    discard: { enum: [true] },
    ok: { enum: [true] },
    continue: { enum: [true] },
    log: { type: 'boolean' },
    mail: { type: 'boolean' },
    delete: { type: 'boolean' },
    header: headerMark,
    observe: { type: 'boolean' },
  },
} as const;

const rule = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'on'],
  properties: {
    name: nonEmpty,
    on: either({ type: 'string' } as const, { enum: EVENTS }, { type: 'array', minItems: 1, items: { enum: EVENTS } } as const),
    when,
    add: { type: 'object', additionalProperties: either({ type: 'string' } as const, { enum: ['dnsbl', 'rhsbl', 'size_kb'] } as const, { type: 'number' } as const) },
    ok: { type: 'boolean' },
    delay: durationSchema,
    tempfail: reply,
    reject: reply,
    discard: { enum: [true] },
    quarantine: nonEmpty,
    redirect: nonEmpty,
    subject_prefix: nonEmpty,
    header: either({ type: 'array' } as const, { type: 'array', minItems: 1, items: headerMark } as const, headerMark),
    observe: { type: 'boolean' },
  },
} as const;

/** Tracking copies: which messages to keep whole, in a folder named after the entry. */
const trackEntry = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    // The folder's name: no path separators, no dot files.
    name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' },
    when,
    rules: { type: 'array', minItems: 1, items: nonEmpty },
  },
} as const;

const schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    keys: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['half_life'],
        properties: { half_life: durationSchema, ipv4_prefix: { type: 'integer', minimum: 0, maximum: 32 }, ipv6_prefix: { type: 'integer', minimum: 0, maximum: 128 } },
      },
    },
    lists: { type: 'object', additionalProperties: list },
    alert: {
      type: 'object',
      additionalProperties: false,
      required: ['relay', 'from', 'to'],
      properties: { relay: nonEmpty, from: nonEmpty, to: { type: 'array', minItems: 1, items: nonEmpty }, cooldown: durationSchema },
    },
    rules: { type: 'array', items: rule },
    dnsbl: dnsLists,
    rhsbl: dnsLists,
    reverse_dns: { type: 'object', additionalProperties: false, properties: { dynamic: strings, dynamic_file: nonEmpty } },
    recipients: {
      type: 'object',
      additionalProperties: false,
      required: ['map'],
      properties: { map: nonEmpty, delimiter: { type: 'string' }, domains: { type: 'array', items: nonEmpty }, postfix_config: nonEmpty },
    },
    thresholds: { type: 'object', additionalProperties: { type: 'array', items: threshold } },
    track: { type: 'array', items: trackEntry },
    content: {
      type: 'object',
      additionalProperties: false,
      properties: { max_scan_bytes: { type: 'integer', minimum: 1024 }, max_parts: { type: 'integer', minimum: 1 }, max_depth: { type: 'integer', minimum: 1 } },
    },
  },
  $defs: {
    when: { ...whenFields, properties: { ...whenFields.properties, not: when, any: { type: 'array', minItems: 1, items: when } } },
  },
} as const;

// The file as written, derived from the schema above (json-schema-to-ts) so that the two cannot
// disagree. json-schema-to-ts cannot follow a recursive schema: `when` is derived from its fields
// and its two nesting conditions are added here, and the places that hold a `when` take this type.
type Derived<S extends JSONSchema> = FromSchema<S, { parseIfThenElseKeywords: true }>;
export type WhenSpec = Derived<typeof whenFields> & { not?: WhenSpec; any?: WhenSpec[] };
export type TextMatcherSpec = Derived<typeof whenFields.properties.sender>;
export type IpMatcherSpec = Derived<typeof ipMatcher>;
export type ListingMatcherSpec = Derived<typeof listingMatcher>;
export type KeywordsSpec = Derived<typeof keywords>;
export type AttachmentSpec = Derived<typeof attachment>;
export type HeaderMarkSpec = Derived<typeof headerMark>;
export type DnsListSpec = Derived<typeof dnsList>;
export type ReplySpec = Derived<typeof reply>;
export type ListSpec = Derived<typeof list>;
export type ThresholdSpec = Derived<typeof threshold>;
export type RuleSpec = Omit<Derived<typeof rule>, 'when'> & { when?: WhenSpec };
export type TrackSpec = Omit<Derived<typeof trackEntry>, 'when'> & { when?: WhenSpec };
export type RulesFileSpec = Omit<Derived<Omit<typeof schema, '$defs'>>, 'rules' | 'track'> & { rules?: RuleSpec[]; track?: TrackSpec[] };

const validate = compileSchema<RulesFileSpec>(schema);

/** A path from the document root: map keys and sequence indexes (the rules' modules name it from here). */
export type { NodePath } from '../config/yaml-source';

/**
 * One rules file being compiled: its parsed document for positions, and every error and warning
 * found so far, so that all of them are reported together.
 */
export class RulesSource {
  readonly spec: RulesFileSpec;
  private readonly yaml: YamlSource;
  private readonly errors: SourceProblem[] = [];
  private readonly warnings: SourceProblem[] = [];

  constructor(
    readonly file: string,
    text: string,
  ) {
    this.yaml = new YamlSource(file, text);
    this.spec = checkedSpec(this.yaml);
  }

  /** Where the value at `path` starts, or with `key` the key naming it (the nearest ancestor if absent). */
  locate(path: NodePath, key = false): SourceLocation {
    return this.yaml.locate(path, key);
  }

  error(path: NodePath, message: string, key = false): void {
    this.errorAt(this.locate(path, key), message);
  }

  /** For problems in other files (a list file's bad line). */
  errorAt(location: SourceLocation, message: string): void {
    this.errors.push({ ...location, message });
  }

  warn(path: NodePath, message: string, key = false): void {
    this.warnings.push({ ...this.locate(path, key), message: `warning: ${message}` });
  }

  get failed(): boolean {
    return this.errors.length > 0;
  }

  /** Throws every error, in file order, once compilation is complete. */
  throwIfFailed(): void {
    if (this.failed) throw new ConfigError(inFileOrder(this.errors));
  }

  formattedWarnings(): string[] {
    return inFileOrder(this.warnings).map(formatProblem);
  }
}

/** Files in the order first mentioned, positions ascending within each; equal positions keep their order. */
function inFileOrder(problems: readonly SourceProblem[]): SourceProblem[] {
  const files = [...new Set(problems.map((p) => p.file))];
  return [...problems].sort((a, b) => files.indexOf(a.file) - files.indexOf(b.file) || a.line - b.line || a.column - b.column);
}

/** The validated file, minus ajv's "must match then schema" echo of an error already reported inside the branch, sorted. */
function checkedSpec(yaml: YamlSource): RulesFileSpec {
  try {
    return yaml.validated(validate);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const kept = error.problems
      .filter((p) => !/ must match "(then|else)" schema$/.test(p.message))
      // A YAML null key (`null: true` where null is not allowed) reaches ajv as ''.
      .map((p) => ({ ...p, message: p.message.replace(/^unknown field "" /, 'unknown field "null" ') }));
    throw new ConfigError(inFileOrder(kept.length > 0 ? kept : error.problems));
  }
}
