// Loads recipient maps from real files: list and text, and hash/btree/lmdb/cdb maps built by the real postmap.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRecipientMap, mapFileOf, type CompiledMapType, type RecipientMapSpec } from '../../../src/recipients/map-source';
import { RecipientMapError } from '../../../src/recipients/recipient-map';

const POSTMAP = '/usr/sbin/postmap';

/**
 * An empty main.cf: postmap refuses to run without one, and /etc/postfix has none on a test
 * machine. Dated an hour back because Postfix waits (up to 2 s) while main.cf looks freshly written.
 */
function emptyMainCf(at: string): void {
  const file = join(at, 'main.cf');
  writeFileSync(file, '');
  const hourAgo = new Date(Date.now() - 3_600_000);
  utimesSync(file, hourAgo, hourAgo);
}

const dir = mkdtempSync(join(tmpdir(), 'fg-recipient-maps-'));
emptyMainCf(dir);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const quiet = { stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'] };
/** Map types this Postfix can build (`postconf -m`); lmdb and cdb come in the postfix-lmdb / postfix-cdb packages. */
const SUPPORTED = new Set(execFileSync('postconf', ['-c', dir, '-m'], quiet).toString().split('\n'));

function postmap(type: CompiledMapType, source: string): void {
  execFileSync(POSTMAP, ['-c', dir, `${type}:${source}`], quiet);
}

function write(name: string, content: string): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}

async function loadError(spec: RecipientMapSpec): Promise<RecipientMapError> {
  const error: unknown = await loadRecipientMap(spec).then(
    () => new Error('the map loaded'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RecipientMapError);
  expect((error as RecipientMapError).code).toBe('FG_ERR_RECIPIENT_MAP');
  return error as RecipientMapError;
}

const VIRTUAL = ['# virtual(5) source', 'joe@example.com joe', 'Ann@Example.com ann', 'spam@example.com REJECT', '@catchall.test all', 'team@example.com a@example.net,', '  b@example.net', '"john doe"@example.com jd', ''].join('\n');

function expectVirtualAnswers(spec: RecipientMapSpec, loaded: Awaited<ReturnType<typeof loadRecipientMap>>): void {
  const { map } = loaded;
  expect(map.size).toBe(6);
  expect(map.isKnown('joe@example.com')).toBe(true);
  expect(map.isKnown('joe+news@example.com')).toBe(true);
  expect(map.isKnown('ann@example.com')).toBe(true);
  expect(map.isKnown('spam@example.com')).toBe(true);
  expect(map.isKnown('team@example.com')).toBe(true);
  expect(map.isKnown('"john doe"@example.com')).toBe(true);
  expect(map.isKnown('b@example.net')).toBeUndefined();
  expect(map.isKnown('bob@example.com')).toBe(false);
  expect(map.isKnown('x@catchall.test')).toBe(true);
  expect(map.isKnown('x@foreign.test')).toBeUndefined();
  expect(mapFileOf(spec)).toMatch(/^\//);
}

describe('source files', () => {
  test('a list file', async () => {
    const path = write('list.txt', 'joe@example.com\n# comment\n@catchall.test\n');
    const { map, warnings } = await loadRecipientMap({ type: 'list', path });
    expect(warnings).toEqual([]);
    expect(map.isKnown('joe@example.com')).toBe(true);
    expect(map.isKnown('ann@example.com')).toBe(false);
  });

  test('a Postfix text file, read as postmap reads it', async () => {
    const spec: RecipientMapSpec = { type: 'text', path: write('virtual-text', VIRTUAL) };
    expectVirtualAnswers(spec, await loadRecipientMap(spec));
  });

  test('a missing file fails naming the file', async () => {
    const path = join(dir, 'no-such-list');
    expect((await loadError({ type: 'list', path })).message).toBe(`cannot read recipient map ${path}: ENOENT`);
  });

  test('a syntax error fails naming the file and line', async () => {
    const path = write('broken-text', 'joe@example.com ok\nann@example.com\n');
    expect((await loadError({ type: 'text', path })).message).toMatch(new RegExp(`^${path}:2: expected format`));
  });
});

describe.each(['hash', 'btree', 'lmdb', 'cdb'] as const)('%s: maps built by the real postmap', (type) => {
  const available = SUPPORTED.has(type);
  // Never a silent pass: without the Postfix plugin the test is skipped and its name says why.
  // Under CI the packages are installed (scripts/install-test-deps.sh): a missing one fails there.
  const testIf = available || process.env.CI ? test : test.skip;
  const suffix = available ? '' : ` (SKIPPED: this Postfix has no ${type} support; install postfix-${type})`;

  testIf(`loads the entries postmap stored${suffix}`, async () => {
    const path = write(`virtual-${type}`, VIRTUAL);
    postmap(type, path);
    const spec: RecipientMapSpec = { type, path, configDir: dir };
    expect(mapFileOf(spec)).toBe(path + (type === 'hash' || type === 'btree' ? '.db' : `.${type}`));
    expectVirtualAnswers(spec, await loadRecipientMap(spec));
  });

  testIf(`a map postmap never built fails naming the file${suffix}`, async () => {
    const path = join(dir, `never-built-${type}`);
    expect((await loadError({ type, path, configDir: dir })).message).toContain(mapFileOf({ type, path }));
  });
});

describe('compiled maps with keys that cannot be recipients', () => {
  test('a key postmap stored but no address can match fails, naming the .db and the entry', async () => {
    const path = write('virtual-no-domain', 'joe@ ok\n');
    postmap('hash', path);
    expect((await loadError({ type: 'hash', path, configDir: dir })).message).toBe(`${path}.db, entry 1: "joe@" has no domain after "@"`);
  });

  test('an over-long key is skipped with a warning counted per entry', async () => {
    const path = write('virtual-long-key', `${'x'.repeat(400)}@example.com ok\n`);
    postmap('hash', path);
    const { map, warnings } = await loadRecipientMap({ type: 'hash', path, configDir: dir });
    expect(map.size).toBe(0);
    expect(warnings).toEqual([`${path}.db: skipped 1 key(s) longer than 320 characters, which no address can match (first at entry 1)`]);
  });
});

describe('postmap failures', () => {
  const built = (): string => {
    const path = write('virtual-for-failures', 'joe@example.com ok\n');
    postmap('hash', path);
    return path;
  };

  function fakePostmap(name: string, script: string): string {
    const file = write(name, `#!/bin/sh\n${script}\n`);
    chmodSync(file, 0o755);
    return file;
  }

  test('a missing postmap binary', async () => {
    const error = await loadError({ type: 'hash', path: built(), postmap: join(dir, 'no-postmap') });
    expect(error.message).toMatch(/postmap not found/);
  });

  test("postmap's fatal message is passed on", async () => {
    const fake = fakePostmap('postmap-fatal', 'echo "postmap: warning: noise" >&2; echo "postmap: fatal: open database x.db: Permission denied" >&2; exit 1');
    const error = await loadError({ type: 'hash', path: built(), postmap: fake });
    expect(error.message).toMatch(/-s hash:.* failed: postmap: fatal: open database x\.db: Permission denied$/);
  });

  test('a postmap that hangs is killed after timeoutMs', async () => {
    const fake = fakePostmap('postmap-hangs', 'exec sleep 30');
    const error = await loadError({ type: 'hash', path: built(), postmap: fake, timeoutMs: 300 });
    expect(error.message).toMatch(/no answer within 300 ms$/);
  });

  test("postmap's warnings on success become load warnings; an empty value is no problem", async () => {
    const fake = fakePostmap('postmap-warns', 'echo "postmap: warning: database is older than source file" >&2; printf "joe@example.com\\t\\n"');
    const { map, warnings } = await loadRecipientMap({ type: 'hash', path: built(), postmap: fake });
    expect(warnings).toEqual(['postmap: warning: database is older than source file']);
    expect(map.isKnown('joe@example.com')).toBe(true);
  });
});

describe('cdb files read without postmap (postmap -s cannot walk a cdb)', () => {
  /** A cdb file whose 256 hash tables are all empty: valid for any reader that walks the records. */
  function cdb(keys: readonly string[]): Buffer {
    const records = Buffer.concat(
      keys.map((key) => {
        const k = Buffer.from(key);
        const head = Buffer.alloc(8);
        head.writeUInt32LE(k.length, 0);
        head.writeUInt32LE(1, 4);
        return Buffer.concat([head, k, Buffer.from('v')]);
      }),
    );
    const header = Buffer.alloc(2048);
    for (let i = 0; i < 256; i++) header.writeUInt32LE(2048 + records.length, i * 8);
    return Buffer.concat([header, records]);
  }

  test('keys with a trailing NUL (Postfix TRY1NULL) match', async () => {
    const path = join(dir, 'nul-keys');
    writeFileSync(`${path}.cdb`, cdb(['joe@example.com\0', '@catchall.test']));
    const { map } = await loadRecipientMap({ type: 'cdb', path });
    expect(map.isKnown('joe@example.com')).toBe(true);
    expect(map.isKnown('x@catchall.test')).toBe(true);
  });

  test.each([
    ['shorter than its header', (file: string) => truncateSync(file, 100), 'shorter than its 2048-byte header'],
    ['cut in the middle of a record', (file: string) => writeFileSync(file, cdb(['joe@example.com']).subarray(0, 2060)), 'record 1 runs past the records'],
  ])('a file %s fails naming the file', async (_name, damage, why) => {
    const path = join(dir, 'damaged');
    writeFileSync(`${path}.cdb`, cdb(['joe@example.com']));
    damage(`${path}.cdb`);
    expect((await loadError({ type: 'cdb', path })).message).toBe(`${path}.cdb: not a valid cdb file (${why})`);
  });
});

describe('a 200,000-entry map', () => {
  const COUNT = 200_000;
  const source = (): string => Array.from({ length: COUNT }, (_, i) => `user${i}@d${i % 50}.example ok\n`).join('');

  function expectComplete(loaded: Awaited<ReturnType<typeof loadRecipientMap>>): void {
    expect(loaded.map.size).toBe(COUNT);
    expect(loaded.map.domains.size).toBe(50);
    expect(loaded.map.isKnown('user0@d0.example')).toBe(true);
    expect(loaded.map.isKnown(`user${COUNT - 1}@d${(COUNT - 1) % 50}.example`)).toBe(true);
    expect(loaded.map.isKnown('user1@d0.example')).toBe(false);
  }

  test('loads from text', async () => {
    expectComplete(await loadRecipientMap({ type: 'text', path: write('big-text', source()) }));
  });

  test('loads from hash through postmap -s', async () => {
    const path = write('big-hash', source());
    postmap('hash', path);
    expectComplete(await loadRecipientMap({ type: 'hash', path, configDir: dir }));
  }, 30_000);
});
