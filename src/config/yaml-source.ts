// Parses a YAML file and validates it against a JSON schema, reporting every problem with line:column.
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { isMap, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { ConfigError, type SourceProblem } from './errors';

const ajv = new Ajv({ allErrors: true, strict: true, useDefaults: false });

export function compileSchema<T>(schema: object): ValidateFunction<T> {
  return ajv.compile<T>(schema);
}

/**
 * Returns the plain value of the YAML text once it passes the schema; otherwise throws one
 * ConfigError listing every syntax and schema problem with its position.
 */
export function loadYaml<T>(text: string, file: string, validate: ValidateFunction<T>): T {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): Pick<SourceProblem, 'line' | 'column'> => {
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  const syntax = [...doc.errors, ...doc.warnings].map((e) => ({ file, ...at(e.pos[0]), message: e.message.split('\n')[0] }));
  if (syntax.length > 0) throw new ConfigError(syntax);
  const value: unknown = doc.toJS() ?? {};
  if (validate(value)) return value;
  const problems = (validate.errors ?? []).map((e) => ({ file, ...at(offsetOf(doc, e)), message: describe(e) }));
  throw new ConfigError(dedupe(problems));
}

/** Where in the text the offending value (or, for a missing or extra key, its parent map) starts. */
function offsetOf(doc: Document, error: ErrorObject): number {
  const path = pathSegments(error.instancePath);
  if (error.keyword === 'additionalProperties') {
    const extra = (error.params as { additionalProperty: string }).additionalProperty;
    const parent = doc.getIn(path, true) as Node | undefined;
    if (isMap(parent)) {
      const pair = parent.items.find((item) => (item.key as { value?: unknown } | null)?.value === extra);
      const key = pair?.key as Node | undefined;
      if (key?.range) return key.range[0];
    }
  }
  let node: unknown = doc.contents;
  for (const segment of path) {
    const next = isMap(node) || isSeq(node) ? node.get(isSeq(node) ? Number(segment) : segment, true) : undefined;
    if (next === undefined) break;
    node = next;
  }
  return (node as Node | null)?.range?.[0] ?? 0;
}

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
