// Streams the lines of mail-log files, oldest file first: plain or gzip (found by its magic bytes,
// so rotated `mail.log.2.gz` and an uncompressed copy both work), each line capped in length.
import { createReadStream, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { createGunzip } from 'node:zlib';
import { FloodgateError } from '../errors';

/**
 * Longer lines are cut off and counted, never buffered whole: a Postfix line is under 2 KiB
 * (smtpd caps a logged address at ~1000 bytes), so 16 KiB is no real line's length, and a file of
 * binary garbage without newlines still costs only this much memory.
 */
export const MAX_LINE_BYTES = 16 * 1024;

export class ReplayInputError extends FloodgateError {
  constructor(message: string) {
    super('FG_ERR_REPLAY_INPUT', message);
  }
}

export interface LogFile {
  path: string;
  /** Modification time (ms): the year a syslog stamp without one is inferred from. */
  mtime: number;
}

/**
 * The files in the order their lines were written: rotations first, the highest number oldest
 * (`mail.log.3.gz`, `mail.log.2.gz`, `mail.log.1`, `mail.log`); files of different names keep the
 * order given. Throws ReplayInputError for a file that is missing or unreadable.
 */
export function orderLogFiles(paths: readonly string[]): LogFile[] {
  const files = paths.map((path, given) => {
    let mtime: number;
    try {
      const stat = statSync(path);
      if (!stat.isFile()) throw new Error('not a regular file');
      mtime = stat.mtimeMs;
    } catch (error) {
      throw new ReplayInputError(`cannot read ${path}: ${(error as Error).message}`);
    }
    const m = /^(.*?)(?:[.-](\d+))?(?:\.gz)?$/.exec(basename(path))!;
    // The live file is the newest; a dated rotation (`maillog-20261201`) grows newer as it grows.
    const age = m[2] === undefined ? -Infinity : m[2].length >= 8 ? -Number(m[2]) : Number(m[2]);
    return { path, mtime, given, stem: m[1]!, age };
  });
  const firstOfStem = new Map<string, number>();
  for (const f of files) if (!firstOfStem.has(f.stem)) firstOfStem.set(f.stem, f.given);
  const older = (a: number, b: number) => (a === b ? 0 : a > b ? -1 : 1);
  files.sort((a, b) => firstOfStem.get(a.stem)! - firstOfStem.get(b.stem)! || older(a.age, b.age) || a.given - b.given);
  return files.map(({ path, mtime }) => ({ path, mtime }));
}

export interface LineSink {
  /** One line, without its newline; `truncated` when it was longer than MAX_LINE_BYTES and cut. */
  line(text: string, truncated: boolean): void;
  /** After each chunk's lines: the consumer works through what they completed before more is read. */
  afterChunk?(): Promise<void>;
}

/** Reads one file to its end, passing each line to the sink; gzip is recognised by content. */
export async function readLogFile(file: LogFile, sink: LineSink): Promise<void> {
  const gzip = await isGzip(file.path);
  const raw = createReadStream(file.path, { highWaterMark: 256 * 1024 });
  const stream = gzip ? raw.pipe(createGunzip()) : raw;
  raw.on('error', (error) => stream.destroy(error));
  let carry: Buffer | undefined;
  let dropping = false;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(10, start);
        if (nl === -1) break;
        if (dropping) {
          dropping = false;
        } else if (carry) {
          const whole = Buffer.concat([carry, chunk.subarray(start, nl)]);
          carry = undefined;
          emit(sink, whole);
        } else {
          emit(sink, chunk.subarray(start, nl));
        }
        start = nl + 1;
      }
      if (start < chunk.length && !dropping) {
        const rest = chunk.subarray(start);
        carry = carry ? Buffer.concat([carry, rest]) : Buffer.from(rest);
        if (carry.length > MAX_LINE_BYTES) {
          sink.line(carry.subarray(0, MAX_LINE_BYTES).toString('utf8'), true);
          carry = undefined;
          dropping = true;
        }
      }
      await sink.afterChunk?.();
    }
  } catch (error) {
    throw new ReplayInputError(`reading ${file.path}${gzip ? ' (gzip)' : ''}: ${(error as Error).message}`);
  }
  if (carry && !dropping) emit(sink, carry);
}

function emit(sink: LineSink, bytes: Buffer): void {
  const end = bytes.length > 0 && bytes[bytes.length - 1] === 13 ? bytes.length - 1 : bytes.length;
  if (end > MAX_LINE_BYTES) sink.line(bytes.toString('utf8', 0, MAX_LINE_BYTES), true);
  else sink.line(bytes.toString('utf8', 0, end), false);
}

async function isGzip(path: string): Promise<boolean> {
  const handle = await open(path, 'r').catch((error: Error) => {
    throw new ReplayInputError(`cannot read ${path}: ${error.message}`);
  });
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await handle.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await handle.close();
  }
}
