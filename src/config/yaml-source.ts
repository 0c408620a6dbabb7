// Parses a YAML file once and validates it against a JSON schema, reporting every problem with line:column.
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { ConfigError, type SourceProblem } from './errors';

const ajv = new Ajv({ allErrors: true, strict: true, useDefaults: false });

export function compileSchema<T>(schema: object): ValidateFunction<T> {
  return ajv.compile<T>(schema);
}

/** A path from the document root: map keys and sequence indexes. */
export type NodePath = ReadonlyArray<string | number>;

/**
 * One YAML text parsed once: its syntax problems, its plain value, and where any node sits in the
 * text (line:column), for schema problems and for the later checks of whoever reads it (the rules).
 */
export class YamlSource {
  private readonly doc: Document;
  private readonly lines = new LineCounter();

  constructor(
    readonly file: string,
    text: string,
  ) {
    // merge: YAML merge keys (`<<: *anchor`), so that rules can share a phrase list and change one field.
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true, merge: true });
  }

  /**
   * The plain value once the text parses and passes the schema; otherwise one ConfigError listing
   * every syntax and schema problem with its position.
   */
  validated<T>(validate: ValidateFunction<T>): T {
    const syntax = [...this.doc.errors, ...this.doc.warnings].map((e) => ({ file: this.file, ...this.position(e.pos[0]), message: e.message.split('\n')[0]! }));
    if (syntax.length > 0) throw new ConfigError(syntax);
    const value: unknown = this.doc.toJS() ?? {};
    if (validate(value)) return value;
    const problems = (validate.errors ?? []).map((e) => ({ ...this.locateError(e), message: describe(e) }));
    throw new ConfigError(dedupe(problems));
  }

  /**
   * Where the value at `path` starts, or with `key` the key naming it; a path that goes beyond the
   * document stops at the nearest node that exists.
   */
  locate(path: NodePath, key = false): SourceProblemPosition {
    let node: unknown = this.doc.contents;
    let keyNode: Node | undefined;
    for (const segment of path) {
      if (isMap(node)) {
        // String(... ?? ''): a YAML null key (`null:` unquoted) is the key '' in the plain value.
        const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value ?? '') === String(segment));
        if (!pair) break;
        keyNode = pair.key as Node;
        node = pair.value;
      } else if (isSeq(node) && Number.isInteger(Number(segment)) && Number(segment) < node.items.length) {
        keyNode = undefined;
        node = node.items[Number(segment)];
      } else {
        break;
      }
    }
    const target = key && keyNode ? keyNode : (node as Node | null);
    return { file: this.file, ...this.position(target?.range?.[0] ?? 0) };
  }

  /** A schema problem's place: the offending value, or for an unknown key that key itself. */
  private locateError(error: ErrorObject): SourceProblemPosition {
    const path = pathSegments(error.instancePath);
    if (error.keyword === 'additionalProperties') {
      return this.locate([...path, (error.params as { additionalProperty: string }).additionalProperty], true);
    }
    return this.locate(path);
  }

  private position(offset: number): { line: number; column: number } {
    const pos = this.lines.linePos(offset);
    return { line: pos.line, column: pos.col };
  }
}

type SourceProblemPosition = Omit<SourceProblem, 'message'>;

/** JSON-pointer segments with their ~1 and ~0 escapes undone. */
function pathSegments(pointer: string): string[] {
  return pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function describe(e: ErrorObject): string {
  const where = e.instancePath === '' ? 'top level' : pathSegments(e.instancePath).join('.');
  switch (e.keyword) {
    case 'additionalProperties':
      return `unknown field "${(e.params as { additionalProperty: string }).additionalProperty}" in ${where}`;
    case 'required':
      return `missing field "${(e.params as { missingProperty: string }).missingProperty}" in ${where}`;
    case 'enum':
      return `${where} must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `${where} ${e.message ?? 'is invalid'}`;
  }
}

/** One problem per position: a value failing a oneOf also fails each branch; the first is the most specific. */
function dedupe(problems: SourceProblem[]): SourceProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.line}:${p.column}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
