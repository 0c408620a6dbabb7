// YamlSource.validated: schema problems located in the source text (maps, sequences, odd keys), syntax errors first.
import { ConfigError, formatProblem, type SourceProblem } from '../../../src/config/errors';
import { compileSchema, YamlSource } from '../../../src/config/yaml-source';

interface Doc {
  name: string;
  items?: Array<{ id: number; tags?: string[] }>;
  paths?: Record<string, number>;
}

const validate = compileSchema<Doc>({
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string' },
    items: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id'],
        properties: { id: { type: 'integer' }, tags: { type: 'array', items: { type: 'string' } } },
      },
    },
    paths: { type: 'object', additionalProperties: { type: 'integer' } },
  },
});

function problems(text: string): SourceProblem[] {
  try {
    new YamlSource('doc.yml', text).validated(validate);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('accepted');
}

describe('YamlSource.validated', () => {
  test('returns the plain value of a valid document', () => {
    expect(new YamlSource('doc.yml', 'name: x\nitems:\n  - id: 1\n    tags: [a, b]\n').validated(validate)).toEqual({ name: 'x', items: [{ id: 1, tags: ['a', 'b'] }] });
  });

  test('a missing required field is reported at its parent map', () => {
    expect(problems('\n\nitems: []\n')).toEqual([{ file: 'doc.yml', line: 3, column: 1, message: 'missing field "name" in top level' }]);
  });

  test('a wrong type inside a sequence points at the element', () => {
    expect(problems('name: x\nitems:\n  - id: 1\n  - id: two\n')).toEqual([{ file: 'doc.yml', line: 4, column: 9, message: 'items.1.id must be integer' }]);
  });

  test('a wrong type deep in nested sequences points at that element', () => {
    expect(problems('name: x\nitems:\n  - id: 1\n    tags:\n      - ok\n      - 42\n')).toEqual([
      { file: 'doc.yml', line: 6, column: 9, message: 'items.0.tags.1 must be string' },
    ]);
  });

  test('an unknown key inside a sequence element points at the key', () => {
    expect(problems('name: x\nitems:\n  - id: 1\n    colour: red\n')).toEqual([{ file: 'doc.yml', line: 4, column: 5, message: 'unknown field "colour" in items.0' }]);
  });

  test('a missing field inside a sequence element points at that element', () => {
    expect(problems('name: x\nitems:\n  - id: 1\n  - tags: []\n')).toEqual([{ file: 'doc.yml', line: 4, column: 5, message: 'missing field "id" in items.1' }]);
  });

  test('a key with / or ~ in it is located despite JSON-pointer escaping', () => {
    expect(problems('name: x\npaths:\n  a/b: nope\n')).toEqual([{ file: 'doc.yml', line: 3, column: 8, message: expect.any(String) }]);
    expect(problems('name: x\npaths:\n  a/b: 1\n  c~d: nope\n')).toEqual([{ file: 'doc.yml', line: 4, column: 8, message: expect.any(String) }]);
  });

  // Bug guard: describe() prints Ajv's instancePath without undoing JSON-pointer escaping (offsetOf does
  // undo it), so the message names `paths.a~1b` / `paths.c~0d`, keys that are not in the file.
  test.each([
    ['a/b', 'paths.a/b must be integer'],
    ['c~d', 'paths.c~d must be integer'],
  ])('the message names the key %j as written', (key, message) => {
    expect(problems(`name: x\npaths:\n  ${key}: nope\n`).map((p) => p.message)).toEqual([message]);
  });

  test('every problem is reported, in one error, no duplicates', () => {
    const found = problems('name: 5\nitems:\n  - id: x\n  - id: y\nextra: 1\n');
    expect(found.map((p) => `${p.line}:${p.column}`).sort()).toEqual(['1:7', '3:9', '4:9', '5:1']);
    expect(new Set(found.map(formatProblem)).size).toBe(found.length);
  });

  test('syntax errors are reported without running the schema', () => {
    const found = problems('name: [x\nextra: 1\n');
    expect(found.length).toBeGreaterThan(0);
    expect(found.every((p) => !p.message.includes('unknown field'))).toBe(true);
  });

  test('tabs used for indentation are a syntax error with a position', () => {
    const [first] = problems('name: x\nitems:\n\t- id: 1\n');
    expect(first).toMatchObject({ file: 'doc.yml', line: 3 });
  });
});

describe('formatProblem', () => {
  test('file:line:column: message', () => {
    expect(formatProblem({ file: 'a.yml', line: 3, column: 7, message: 'bad' })).toBe('a.yml:3:7: bad');
  });

  test('ConfigError joins every problem, one per line', () => {
    const error = new ConfigError([
      { file: 'a.yml', line: 1, column: 1, message: 'one' },
      { file: 'a.yml', line: 2, column: 5, message: 'two' },
    ]);
    expect(error.message).toBe('a.yml:1:1: one\na.yml:2:5: two');
    expect(error.code).toBe('FG_ERR_CONFIG');
  });
});
