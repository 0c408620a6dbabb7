// The rules file as written: its TypeScript shape, its JSON schema, and where each node sits in the text.
import { DURATION_PATTERN } from '../config/duration';
import { ConfigError, formatProblem, type SourceProblem } from '../config/errors';
import { compileSchema, YamlSource, type NodePath } from '../config/yaml-source';
import { REVERSE_DNS_STATUSES, type SourceLocation } from './rule-set';

type Duration = number | string;

export const EVENTS = ['connect', 'helo', 'mail', 'rcpt', 'eom'] as const;
export const LIST_KINDS = ['cidr', 'domains', 'addresses', 'patterns'] as const;
export type ListKind = (typeof LIST_KINDS)[number];

export interface TextMatcherSpec {
  in?: string[];
  list?: string;
  matches?: string;
  equals?: string;
  present?: boolean;
  /** sender only: the null sender <>. */
  null?: boolean;
  /** The same, as YAML reads an unquoted `null:` key (a null key, which becomes ''). */
  ''?: boolean;
}
export interface IpMatcherSpec {
  in?: string[];
  list?: string;
}
/** A DNS list result: weighted score above/below a bound, or listed on one of the named lists. */
export interface ListingMatcherSpec {
  above?: number;
  below?: number;
  listed_on?: string[];
}
export interface DnsListSpec {
  zone: string;
  answers?: string[];
  weight?: number;
}
export interface WhenSpec {
  client_ip?: IpMatcherSpec;
  client_name?: TextMatcherSpec;
  helo?: TextMatcherSpec;
  sender?: TextMatcherSpec;
  sender_domain?: TextMatcherSpec;
  recipient?: TextMatcherSpec;
  recipient_domain?: TextMatcherSpec;
  auth_user?: TextMatcherSpec;
  size?: { over: number };
  rejected_by_mta?: boolean;
  dnsbl?: ListingMatcherSpec;
  rhsbl?: ListingMatcherSpec;
  reverse_dns?: string | string[];
  recipient_known?: boolean;
  macros?: Record<string, Pick<TextMatcherSpec, 'matches' | 'equals' | 'present'>>;
  not?: WhenSpec;
  any?: WhenSpec[];
}
/** `true` asks for the MTA's default text; `code` may be written as a number. */
export type ReplySpec = true | { code: string | number; ext?: string; text?: string | string[] };
export interface ThresholdSpec {
  above?: number;
  below?: number;
  delay?: Duration;
  tempfail?: ReplySpec;
  reject?: ReplySpec;
  discard?: true;
  ok?: true;
  continue?: true;
  log?: boolean;
  mail?: boolean;
  delete?: boolean;
  header?: { name: string; value: string };
  observe?: boolean;
}
export interface RuleSpec {
  name: string;
  on: (typeof EVENTS)[number] | Array<(typeof EVENTS)[number]>;
  when?: WhenSpec;
  add?: Record<string, number | 'dnsbl' | 'rhsbl'>;
  ok?: boolean;
  delay?: Duration;
  tempfail?: ReplySpec;
  reject?: ReplySpec;
  observe?: boolean;
}
export type ListSpec = Partial<Record<ListKind, string[]> & Record<`${ListKind}_file`, string>>;
export interface RulesFileSpec {
  keys?: Record<string, { half_life: Duration; ipv4_prefix?: number; ipv6_prefix?: number }>;
  lists?: Record<string, ListSpec>;
  alert?: { relay: string; from: string; to: string[]; cooldown?: Duration };
  rules?: RuleSpec[];
  thresholds?: Record<string, ThresholdSpec[]>;
  dnsbl?: Record<string, DnsListSpec>;
  rhsbl?: Record<string, DnsListSpec>;
  reverse_dns?: { dynamic?: string[]; dynamic_file?: string };
  recipients?: { map: string; delimiter?: string; domains?: string[]; postfix_config?: string };
}

const strings = { type: 'array', items: { type: 'string' } } as const;
const nonEmpty = { type: 'string', minLength: 1 } as const;
/** Either one form or the other; the loader drops ajv's extra "must match then schema" line. */
const either = (test: object, then: object, otherwise: object) => ({ if: test, then, else: otherwise });
// Not the shared durationSchema: its oneOf reports "must be number" for `10 minutes`; this names the pattern.
const durationSchema = either({ type: 'number' }, { type: 'number', minimum: 0 }, { type: 'string', pattern: DURATION_PATTERN });
const textMatcher = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: { in: strings, list: nonEmpty, matches: { type: 'string' }, equals: { type: 'string' }, present: { type: 'boolean' } },
} as const;
const reply = either(
  { type: 'object' },
  {
    type: 'object',
    additionalProperties: false,
    required: ['code'],
    // code and text are checked by formatReplyText in the loader, which gives the better message.
    properties: { code: {}, ext: { type: 'string' }, text: {} },
  },
  { enum: [true] },
);
const listingMatcher = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: { above: { type: 'number' }, below: { type: 'number' }, listed_on: { type: 'array', minItems: 1, items: nonEmpty } },
} as const;
// A DNS name: labels of letters, digits, '-' and '_' (zones such as _dmarc-style names exist), dot-separated.
const dnsZone = { type: 'string', pattern: '^(?=.{1,253}\\.?$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\\.)*[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\\.?$' } as const;
const dnsLists = {
  type: 'object',
  additionalProperties: {
    type: 'object',
    additionalProperties: false,
    required: ['zone'],
    properties: { zone: dnsZone, answers: { type: 'array', minItems: 1, items: nonEmpty }, weight: { type: 'number' } },
  },
} as const;
const listProperties: Record<string, object> = {};
for (const kind of LIST_KINDS) {
  listProperties[kind] = strings;
  listProperties[`${kind}_file`] = nonEmpty;
}

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
    lists: { type: 'object', additionalProperties: { type: 'object', additionalProperties: false, properties: listProperties } },
    alert: {
      type: 'object',
      additionalProperties: false,
      required: ['relay', 'from', 'to'],
      properties: { relay: nonEmpty, from: nonEmpty, to: { type: 'array', minItems: 1, items: nonEmpty }, cooldown: durationSchema },
    },
    rules: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'on'],
        properties: {
          name: nonEmpty,
          on: either({ type: 'string' }, { enum: EVENTS }, { type: 'array', minItems: 1, items: { enum: EVENTS } }),
          when: { $ref: '#/$defs/when' },
          add: { type: 'object', additionalProperties: either({ type: 'string' }, { enum: ['dnsbl', 'rhsbl'] }, { type: 'number' }) },
          ok: { type: 'boolean' },
          delay: durationSchema,
          tempfail: reply,
          reject: reply,
          observe: { type: 'boolean' },
        },
      },
    },
    dnsbl: dnsLists,
    rhsbl: dnsLists,
    reverse_dns: { type: 'object', additionalProperties: false, properties: { dynamic: strings, dynamic_file: nonEmpty } },
    recipients: {
      type: 'object',
      additionalProperties: false,
      required: ['map'],
      properties: { map: nonEmpty, delimiter: { type: 'string' }, domains: { type: 'array', items: nonEmpty }, postfix_config: nonEmpty },
    },
    thresholds: {
      type: 'object',
      additionalProperties: {
        type: 'array',
        items: {
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
            header: { type: 'object', additionalProperties: false, required: ['name', 'value'], properties: { name: nonEmpty, value: { type: 'string' } } },
            observe: { type: 'boolean' },
          },
        },
      },
    },
  },
  $defs: {
    when: {
      type: 'object',
      additionalProperties: false,
      properties: {
        client_ip: { type: 'object', additionalProperties: false, minProperties: 1, properties: { in: strings, list: nonEmpty } },
        client_name: textMatcher,
        helo: textMatcher,
        // `null: true` unquoted is a YAML null key, which toJS() turns into '': accept both spellings.
        sender: { ...textMatcher, properties: { ...textMatcher.properties, null: { type: 'boolean' }, '': { type: 'boolean' } } },
        sender_domain: textMatcher,
        recipient: textMatcher,
        recipient_domain: textMatcher,
        auth_user: textMatcher,
        size: { type: 'object', additionalProperties: false, required: ['over'], properties: { over: { type: 'integer', minimum: 0 } } },
        rejected_by_mta: { type: 'boolean' },
        dnsbl: listingMatcher,
        rhsbl: listingMatcher,
        reverse_dns: either({ type: 'string' }, { enum: REVERSE_DNS_STATUSES }, { type: 'array', minItems: 1, items: { enum: REVERSE_DNS_STATUSES } }),
        recipient_known: { type: 'boolean' },
        macros: {
          type: 'object',
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            minProperties: 1,
            properties: { matches: { type: 'string' }, equals: { type: 'string' }, present: { type: 'boolean' } },
          },
        },
        not: { $ref: '#/$defs/when' },
        any: { type: 'array', minItems: 1, items: { $ref: '#/$defs/when' } },
      },
    },
  },
} as const;

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
