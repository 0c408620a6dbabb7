// Reads a recipient map (a plain list, Postfix map source text, or a map postmap compiled) into a RecipientMap.
import { execFile, type ExecFileException } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { MAX_ADDRESS_LENGTH } from '../net/normalise';
import { RecipientMapBuilder, RecipientMapError, type RecipientMap } from './recipient-map';

export const COMPILED_MAP_TYPES = ['hash', 'btree', 'lmdb', 'cdb'] as const;
export type CompiledMapType = (typeof COMPILED_MAP_TYPES)[number];
export type RecipientMapType = 'list' | 'text' | CompiledMapType;

export interface RecipientMapSpec {
  /** The file as main.cf names it: for compiled types WITHOUT postmap's suffix (`/etc/postfix/virtual`, not `virtual.db`). */
  path: string;
  type: RecipientMapType;
  /** recipient_delimiter, a set of characters; default '+', '' for none. */
  delimiter?: string;
  /** Domains judged even when no key names them. */
  domains?: string[];
  /** postmap(1) to dump hash, btree and lmdb maps; default /usr/sbin/postmap. */
  postmap?: string;
  /** Postfix configuration directory handed to postmap as `-c` (a postmulti instance); default postmap's own. */
  configDir?: string;
  /** How long postmap may take; default 30 s. */
  timeoutMs?: number;
  /** More keys than this fail the load; default 5,000,000. */
  maxEntries?: number;
}

export interface LoadedRecipientMap {
  readonly map: RecipientMap;
  /** Things skipped or suspicious, one summary line each (never one per line of a huge file). */
  readonly warnings: readonly string[];
}

export const DEFAULT_POSTMAP = '/usr/sbin/postmap';
export const DEFAULT_POSTMAP_TIMEOUT_MS = 30_000;
/**
 * Past V8's limit a Set throws at 2^24 (16.7 M) members, and memory is ~100 bytes a key; a map
 * this big is more likely the wrong file than a real domain. Failing beats truncating: a cut map
 * would refuse real recipients.
 */
export const DEFAULT_MAX_ENTRIES = 5_000_000;
/** postmap -s prints "key<TAB>value" lines: 256 MiB holds 1 M entries even with 250-byte values, and stays under V8's string limit. */
const MAX_POSTMAP_OUTPUT = 256 * 1024 * 1024;
/** Enough problems to fix a file in one go without flooding the log when the whole file is wrong. */
const MAX_REPORTED_PROBLEMS = 20;
const MAP_SUFFIX: Record<CompiledMapType, string> = { hash: '.db', btree: '.db', lmdb: '.lmdb', cdb: '.cdb' };

/** The file whose changes mean the map changed: the source for list/text, the file postmap wrote otherwise. */
export function mapFileOf(spec: RecipientMapSpec): string {
  const path = resolve(spec.path);
  return isCompiled(spec.type) ? path + MAP_SUFFIX[spec.type] : path;
}

export async function loadRecipientMap(spec: RecipientMapSpec): Promise<LoadedRecipientMap> {
  checkSpec(spec);
  const file = mapFileOf(spec);
  if (spec.type === 'list' || spec.type === 'text') return await parseRecipientMap(await readMapFile(file, 'utf8'), spec, file);
  // cdb cannot be dumped: postmap -s says "sequence operation is not supported", so read it here.
  if (spec.type === 'cdb') return readCdbMap(await readMapFile(file), spec, file);
  await readable(file);
  const { stdout, stderr } = await dumpCompiledMap(spec);
  // postmap -s prints `key<TAB>value` lines, keys quoted as stored: the text format less its checks on values.
  const keys = new KeyCollector(file, spec, 'entry');
  await parseText(stdout, keys, false);
  const loaded = keys.finish();
  return { map: loaded.map, warnings: [...postmapWarnings(stderr), ...loaded.warnings] };
}

/**
 * Parses list or Postfix text format. `text` follows postmap(1): `key whitespace value`, `#`
 * comment lines, a line starting with whitespace continues the logical line, a key may be
 * double-quoted to hold whitespace. The value is ignored, as Postfix ignores it for
 * relay_recipient_maps: a key valued `REJECT` is still a known recipient. Where postmap only warns
 * (no value, unbalanced quote, leading whitespace), this fails: the operator meant something else.
 */
export async function parseRecipientMap(text: string, spec: Pick<RecipientMapSpec, 'type' | 'delimiter' | 'domains' | 'maxEntries'>, file: string): Promise<LoadedRecipientMap> {
  const keys = new KeyCollector(file, spec);
  if (spec.type === 'list') await parseList(text, keys);
  else await parseText(text, keys, true);
  return keys.finish();
}

/** Gathers keys into a builder, problems (reported together) and skipped keys (counted). */
class KeyCollector {
  private readonly builder: RecipientMapBuilder;
  private readonly maxEntries: number;
  private readonly problems: string[] = [];
  private problemCount = 0;
  private overlong = 0;
  private firstOverlong = 0;

  /** `unit` names what positions count: source lines, or the entries of a compiled map. */
  constructor(
    private readonly file: string,
    spec: Pick<RecipientMapSpec, 'delimiter' | 'domains' | 'maxEntries'>,
    private readonly unit: 'line' | 'entry' = 'line',
  ) {
    this.builder = new RecipientMapBuilder(spec);
    this.maxEntries = spec.maxEntries ?? DEFAULT_MAX_ENTRIES;
  }

  key(key: string, line: number): void {
    // Longer than any address can be: it can never match, so it costs a warning, not the load.
    if (key.length > MAX_ADDRESS_LENGTH) {
      if (this.overlong++ === 0) this.firstOverlong = line;
      return;
    }
    const problem = this.builder.add(key);
    if (problem !== undefined) this.problem(line, problem);
    else if (this.builder.size > this.maxEntries) throw new RecipientMapError(`${this.file}: more than ${this.maxEntries} entries; raise maxEntries if this is really the map`);
  }

  problem(line: number, message: string): void {
    if (this.problemCount++ < MAX_REPORTED_PROBLEMS) this.problems.push(`${this.file}${this.unit === 'line' ? ':' : ', entry '}${line}: ${message}`);
  }

  finish(): LoadedRecipientMap {
    if (this.problemCount > 0) {
      const more = this.problemCount - this.problems.length;
      throw new RecipientMapError([...this.problems, ...(more > 0 ? [`${this.file}: ... and ${more} more problems`] : [])].join('\n'));
    }
    const warnings: string[] = [];
    if (this.overlong > 0) warnings.push(`${this.file}: skipped ${this.overlong} key(s) longer than ${MAX_ADDRESS_LENGTH} characters, which no address can match (first at ${this.unit} ${this.firstOverlong})`);
    if (this.builder.judgesNothing) warnings.push(`${this.file}: only bare local parts and no domains: the map judges no recipient`);
    return { map: this.builder.build(), warnings };
  }
}

/** One address per line; `#` starts a comment at the line start or after whitespace, as in list files, since `#` may appear in a local part. */
function parseList(text: string, keys: KeyCollector): Promise<void> {
  return forEachLine(text, (raw, line) => {
    const entry = raw.replace(/(^|\s)#.*$/, '').trim();
    if (entry === '') return;
    if (/\s/.test(entry)) keys.problem(line, `"${clip(entry)}": one address per line (no spaces)`);
    else keys.key(entry, line);
  });
}

/** Postfix's logical lines (util/readlline.c), each handed on as its key. */
async function parseText(text: string, keys: KeyCollector, requireValue: boolean): Promise<void> {
  let logical: string[] = [];
  let start = 0;
  const flush = (): void => {
    if (logical.length > 0) textKey(logical.join(''), start, keys, requireValue);
    logical = [];
  };
  await forEachLine(text, (raw, line) => {
    const first = raw.search(/\S/);
    if (first < 0 || raw[first] === '#') return;
    if (first === 0) {
      flush();
      start = line;
      logical = [raw];
    } else if (logical.length > 0) logical.push(raw);
    else keys.problem(line, `logical line must not start with whitespace: "${clip(raw.trim())}"`);
  });
  flush();
}

/** The key of one logical line: text up to the first whitespace outside double quotes (postmap's split_qnameval). */
function textKey(line: string, lineNumber: number, keys: KeyCollector, requireValue: boolean): void {
  let quoted = false;
  let end = 0;
  for (; end < line.length; end++) {
    const c = line[end];
    if (quoted && c === '\\') end++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && (c === ' ' || c === '\t' || c === '\r' || c === '\n' || c === '\v' || c === '\f')) break;
  }
  if (quoted) keys.problem(lineNumber, `unbalanced '"' in '${clip(line)}'`);
  else if (requireValue && line.slice(end).trim() === '') keys.problem(lineNumber, `expected format: key whitespace value, got "${clip(line)}"`);
  else keys.key(line.slice(0, end), lineNumber);
}

/** Lines without their CR LF, handed over in slices between which the event loop runs. */
async function forEachLine(text: string, each: (raw: string, line: number) => void): Promise<void> {
  let line = 0;
  for (let from = 0; from < text.length; ) {
    let to = text.indexOf('\n', from);
    if (to < 0) to = text.length;
    const raw = text.charCodeAt(to - 1) === 13 && to > from ? text.slice(from, to - 1) : text.slice(from, to);
    each(raw, ++line);
    from = to + 1;
    if (line % SLICE === 0) await nextTurn();
  }
}

/**
 * Parsing runs on the thread that answers the MTA; a million-line map takes seconds, so it yields
 * every SLICE entries (a few milliseconds of work) and SMTP sessions go on during a reload.
 */
const SLICE = 10_000;

function nextTurn(): Promise<void> {
  return new Promise((resolvePromise) => setImmediate(resolvePromise));
}

/** The keys of a cdb file (D. J. Bernstein's format, as Postfix's cdb: writes it): records from byte 2048 up to the first hash table. */
async function readCdbMap(data: Buffer, spec: RecipientMapSpec, file: string): Promise<LoadedRecipientMap> {
  const corrupt = (why: string) => new RecipientMapError(`${file}: not a valid cdb file (${why})`);
  if (data.length < 2048) throw corrupt('shorter than its 2048-byte header');
  let end = data.length;
  for (let i = 0; i < 256; i++) end = Math.min(end, data.readUInt32LE(i * 8));
  if (end < 2048) throw corrupt('a hash table starts inside the header');
  const keys = new KeyCollector(file, spec, 'entry');
  for (let pos = 2048, record = 1; pos < end; record++) {
    if (pos + 8 > end) throw corrupt(`record ${record} is cut short`);
    const keyLength = data.readUInt32LE(pos);
    const next = pos + 8 + keyLength + data.readUInt32LE(pos + 4);
    if (next > end) throw corrupt(`record ${record} runs past the records`);
    // Postfix may store keys with a trailing NUL (its TRY1NULL flag); a lookup never carries one.
    const key = data.toString('utf8', pos + 8, pos + 8 + keyLength).replace(/\0$/, '');
    keys.key(key, record);
    pos = next;
    if (record % SLICE === 0) await nextTurn();
  }
  return keys.finish();
}

/** `postmap -s type:path`: every entry as postmap reads it, locks and all, so the map is what Postfix sees. */
function dumpCompiledMap(spec: RecipientMapSpec): Promise<{ stdout: string; stderr: string }> {
  const postmap = spec.postmap ?? DEFAULT_POSTMAP;
  const name = `${spec.type}:${resolve(spec.path)}`;
  const args = [...(spec.configDir !== undefined ? ['-c', spec.configDir] : []), '-s', name];
  const timeout = spec.timeoutMs ?? DEFAULT_POSTMAP_TIMEOUT_MS;
  const options = { encoding: 'utf8' as const, timeout, maxBuffer: MAX_POSTMAP_OUTPUT, killSignal: 'SIGKILL' as const };
  return new Promise((resolvePromise, reject) => {
    execFile(postmap, args, options, (error, stdout, stderr) => {
      if (error === null) resolvePromise({ stdout, stderr });
      else reject(new RecipientMapError(`${postmap} -s ${name} failed: ${postmapFailure(error, stderr, timeout)}`));
    });
  });
}

function postmapFailure(error: ExecFileException, stderr: string, timeout: number): string {
  if (error.code === 'ENOENT') return 'postmap not found (set the postmap path)';
  if (error.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') return `output over ${MAX_POSTMAP_OUTPUT / 1024 / 1024} MiB`;
  if (error.killed) return `no answer within ${timeout} ms`;
  const fatal = stderr.split('\n').find((line) => / fatal: /.test(line));
  return fatal?.trim() ?? (stderr.trim().split('\n')[0] || `exit code ${String(error.code)}`);
}

function postmapWarnings(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(0, 5)
    .map((line) => line.trim());
}

async function readMapFile(file: string): Promise<Buffer>;
async function readMapFile(file: string, encoding: 'utf8'): Promise<string>;
async function readMapFile(file: string, encoding?: 'utf8'): Promise<Buffer | string> {
  try {
    return encoding === undefined ? await readFile(file) : await readFile(file, encoding);
  } catch (error) {
    throw new RecipientMapError(`cannot read recipient map ${file}: ${errorCode(error)}`);
  }
}

/** Checked before running postmap, for a message that names the missing file rather than postmap's. */
async function readable(file: string): Promise<void> {
  try {
    await stat(file);
  } catch (error) {
    throw new RecipientMapError(`cannot read recipient map ${file}: ${errorCode(error)} (was postmap run?)`);
  }
}

function checkSpec(spec: RecipientMapSpec): void {
  const types: readonly string[] = ['list', 'text', ...COMPILED_MAP_TYPES];
  if (!types.includes(spec.type)) throw new RecipientMapError(`recipient map type "${String(spec.type)}" is not one of ${types.join(', ')}`);
  if (typeof spec.path !== 'string' || spec.path === '') throw new RecipientMapError('recipient map path is empty');
  if (spec.maxEntries !== undefined && !(Number.isInteger(spec.maxEntries) && spec.maxEntries > 0)) throw new RecipientMapError(`maxEntries ${spec.maxEntries} is not a positive integer`);
  if (spec.timeoutMs !== undefined && !(spec.timeoutMs > 0)) throw new RecipientMapError(`timeoutMs ${spec.timeoutMs} is not positive`);
}

function isCompiled(type: RecipientMapType): type is CompiledMapType {
  return (COMPILED_MAP_TYPES as readonly string[]).includes(type);
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error);
}

/** Long enough to recognise a line, short enough that a hostile one cannot flood the log. */
function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
