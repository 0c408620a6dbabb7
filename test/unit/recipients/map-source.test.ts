// Parsing of list files and Postfix map source text (postmap(1) INPUT FILE FORMAT) into recipient maps.
import { parseRecipientMap, type RecipientMapSpec } from '../../../src/recipients/map-source';
import { RecipientMapError } from '../../../src/recipients/recipient-map';

const text = (source: string, extra: Partial<RecipientMapSpec> = {}) => parseRecipientMap(source, { type: 'text', ...extra }, 'virtual');
const list = (source: string, extra: Partial<RecipientMapSpec> = {}) => parseRecipientMap(source, { type: 'list', ...extra }, 'recipients.txt');

/** The RecipientMapError a parse throws, so a test can read its message. */
async function failure(parse: () => Promise<unknown>): Promise<RecipientMapError> {
  try {
    await parse();
  } catch (error) {
    expect(error).toBeInstanceOf(RecipientMapError);
    expect((error as RecipientMapError).code).toBe('FG_ERR_RECIPIENT_MAP');
    return error as RecipientMapError;
  }
  throw new Error('the source was accepted');
}

describe('list format', () => {
  test('one address per line; comments, blank lines, CRLF and indentation are ignored', async () => {
    const { map, warnings } = await list('# staff\r\njoe@example.com\r\n\n   ann@example.com   # since 2024\n\t\n@catchall.test\nadmin\na#b@example.com\n');
    expect(warnings).toEqual([]);
    expect(map.size).toBe(5);
    expect(map.isKnown('ann@example.com')).toBe(true);
    expect(map.isKnown('a#b@example.com')).toBe(true); // `#` inside an entry is not a comment
    expect(map.isKnown('x@catchall.test')).toBe(true);
    expect(map.isKnown('admin@example.com')).toBe(true);
    expect(map.isKnown('bob@example.com')).toBe(false);
  });

  test('two addresses on a line fail with file and line', async () => {
    expect((await failure(() => list('joe@example.com\nann@example.com bob@example.com\n'))).message).toBe('recipients.txt:2: "ann@example.com bob@example.com": one address per line (no spaces)');
  });

  test('an empty file is an empty map that judges no domain', async () => {
    const { map } = await list('');
    expect(map.size).toBe(0);
    expect(map.isKnown('joe@example.com')).toBeUndefined();
  });
});

describe('Postfix text format', () => {
  test('key whitespace value; the value is ignored, even REJECT', async () => {
    const { map } = await text('joe@example.com\tjoe\nspam@example.com REJECT\n@catchall.test  catchall@elsewhere.test\n');
    expect(map.isKnown('joe@example.com')).toBe(true);
    expect(map.isKnown('spam@example.com')).toBe(true);
    expect(map.isKnown('x@catchall.test')).toBe(true);
  });

  test('keys are case folded as postmap folds them', async () => {
    expect((await text('Joe@EXAMPLE.com ok\n')).map.isKnown('joe@example.com')).toBe(true);
  });

  test('a line starting with whitespace continues the previous one, across comments and blank lines', async () => {
    const { map } = await text('list@example.com a@example.com,\n  b@example.com\n# note\n\n  c@example.com\nsolo@example.com\n   value-on-next-line\nlast@example.com x\r\n');
    expect(map.size).toBe(3);
    expect(map.isKnown('b@example.com')).toBe(false); // a continuation is value, not key
    expect(map.isKnown('solo@example.com')).toBe(true);
    expect(map.isKnown('last@example.com')).toBe(true);
  });

  test('`#` starts a comment only as the first non-blank character of a line', async () => {
    const { map } = await text('  # indented comment\nkey#x@example.com v # not a comment\n');
    expect(map.isKnown('key#x@example.com')).toBe(true);
    expect(map.size).toBe(1);
  });

  test('a double-quoted key may hold whitespace, and escaped quotes', async () => {
    const { map } = await text('"john doe"@example.com ok\n"a\\" b"@example.com ok\n');
    expect(map.isKnown('"john doe"@example.com')).toBe(true);
    expect(map.isKnown('"a\\" b"@example.com')).toBe(true);
  });

  test.each([
    ['a key with no value', 'joe@example.com ok\nann@example.com\n', 'virtual:2: expected format: key whitespace value, got "ann@example.com"'],
    ['a key with only blanks after it', 'ann@example.com   \t\n', 'virtual:1: expected format: key whitespace value'],
    ['an unbalanced quote', '"john doe@example.com ok\n', `virtual:1: unbalanced '"' in '"john doe@example.com ok'`],
    ['a first line that starts with whitespace', '  lead@example.com ok\njoe@example.com ok\n', 'virtual:1: logical line must not start with whitespace: "lead@example.com ok"'],
    ['a key with no domain', 'joe@ ok\n', 'virtual:1: "joe@" has no domain after "@"'],
  ])('%s fails with file and line', async (_name, source, message) => {
    expect((await failure(() => text(source))).message).toContain(message);
  });

  test('a problem on a continued line is reported at the line the entry starts on', async () => {
    expect((await failure(() => text('ok@example.com v\n\n"open@example.com\n  still open\n'))).message).toMatch(/^virtual:3: unbalanced/);
  });

  test('every problem is reported together, capped at 20 with a count of the rest', async () => {
    const source = Array.from({ length: 25 }, (_, i) => `user${i}@example.com`).join('\n');
    const lines = (await failure(() => text(source))).message.split('\n');
    expect(lines).toHaveLength(21);
    expect(lines[0]).toMatch(/^virtual:1: /);
    expect(lines[19]).toMatch(/^virtual:20: /);
    expect(lines[20]).toBe('virtual: ... and 5 more problems');
  });
});

describe('hostile and huge input', () => {
  test('keys longer than any address are skipped with one counted warning naming the first line', async () => {
    const long = `${'x'.repeat(2000)}@example.com`;
    const { map, warnings } = await list(`joe@example.com\n${long}\nann@example.com\n${long}\n`);
    expect(map.size).toBe(2);
    expect(warnings).toEqual(['recipients.txt: skipped 2 key(s) longer than 320 characters, which no address can match (first at line 2)']);
  });

  test('a long value (a big virtual alias) is not a long key: loaded without warning', async () => {
    const { map, warnings } = await text(`team@example.com ${Array.from({ length: 500 }, (_, i) => `m${i}@example.net`).join(', ')}\n`);
    expect(warnings).toEqual([]);
    expect(map.isKnown('team@example.com')).toBe(true);
  });

  test('a problem line is clipped in the message', async () => {
    expect((await failure(() => list(`a b ${'c'.repeat(5000)}\n`))).message.length).toBeLessThan(150);
  });

  test('more keys than maxEntries fail the load instead of truncating it', async () => {
    expect((await failure(() => list('a@x.test\nb@x.test\nc@x.test\n', { maxEntries: 2 }))).message).toBe('recipients.txt: more than 2 entries; raise maxEntries if this is really the map');
    expect((await list('a@x.test\nb@x.test\na@x.test\n', { maxEntries: 2 })).map.size).toBe(2); // duplicates count once
  });

  test('bare local parts without a domain warn that the map judges nothing', async () => {
    expect((await list('admin\nroot\n')).warnings).toEqual(['recipients.txt: only bare local parts and no domains: the map judges no recipient']);
    expect((await list('admin\n', { domains: ['example.com'] })).warnings).toEqual([]);
  });

  test('a bad delimiter is a RecipientMapError', async () => {
    expect((await failure(() => list('joe@example.com\n', { delimiter: '@' }))).message).toMatch(/delimiter/);
  });
});

test('a long map yields to the event loop while it is parsed, so a reload does not stall SMTP sessions', async () => {
  const source = Array.from({ length: 50_000 }, (_, i) => `user${i}@example.com`).join('\n');
  let turns = 0;
  let parsing = true;
  const tick = (): void => {
    turns++;
    if (parsing) setImmediate(tick);
  };
  setImmediate(tick);
  const { map } = await list(source);
  parsing = false;
  expect(map.size).toBe(50_000);
  expect(turns).toBeGreaterThanOrEqual(4); // one per 10,000-line slice
});
