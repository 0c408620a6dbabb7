// Random byte soup and random mutations of real messages: finish() always resolves, with bounded output, and never stalls.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import type { MessageContent } from '../../../src/content/message-content';
import { scanMessage } from '../../support/message-feed';

const FIXTURES = path.join(__dirname, '../../fixtures/content');
const messages = readdirSync(FIXTURES).filter((name) => name.endsWith('.eml')).map((name) => readFileSync(path.join(FIXTURES, name)));
const LIMITS = { maxScanBytes: 2000, maxParts: 50, maxDepth: 6, maxHeaderBytes: 500, maxTextInputBytes: 8000, maxPartHeaderBytes: 2000, maxHeaderFields: 20 };

/** A stall guard, not a speed check: a scan that has not settled after this long never will. */
const STALL_MS = 10_000;

async function scanWithin(raw: Buffer, chunkSize: number): Promise<MessageContent> {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`scan stalled on ${JSON.stringify(raw.toString('latin1').slice(0, 300))}`)), STALL_MS);
  });
  try {
    return await Promise.race([scanMessage(raw, { chunkSize, limits: LIMITS }), stalled]);
  } finally {
    clearTimeout(timer);
  }
}

/** What the limits promise about the result, whatever went in. */
function expectBounded(content: MessageContent, raw: Buffer): void {
  expect(content.text.length).toBeLessThanOrEqual(LIMITS.maxScanBytes);
  expect(content.attachments.length).toBeLessThanOrEqual(LIMITS.maxParts);
  expect(content.headers.length).toBeLessThanOrEqual(LIMITS.maxHeaderFields);
  for (const header of content.headers) expect(header.value.length).toBeLessThanOrEqual(LIMITS.maxHeaderBytes);
  expect(content.problems.length).toBeLessThanOrEqual(32);
  for (const attachment of content.attachments) {
    expect(attachment.depth).toBeLessThanOrEqual(LIMITS.maxDepth);
    expect(attachment.size).toBeLessThanOrEqual(raw.length);
    expect(attachment.type).toMatch(/^[^/\s]+\/[^/\s]+$/);
  }
  expect(content.size).toBeGreaterThanOrEqual(raw.length - 2 * content.headers.length - 64);
}

/** Pieces MIME parsers trip on, mixed with random bytes. */
const mimeToken = fc.oneof(
  fc.constantFrom(
    '--b\r\n', '--b--\r\n', '--c\r\n', '--c--\r\n', '\r\n', '\r\n\r\n', '\n', '\r',
    'Content-Type: multipart/mixed; boundary=b\r\n', 'Content-Type: multipart/alternative; boundary="c"\r\n',
    'Content-Type: message/rfc822\r\n', 'Content-Type: text/html; charset=x-nope\r\n', 'Content-Type: text/plain; charset=utf-16\r\n',
    'Content-Transfer-Encoding: base64\r\n', 'Content-Transfer-Encoding: quoted-printable\r\n',
    'Content-Disposition: attachment; filename*0*=utf-8\'\'%E2%82; filename*1=".exe"\r\n', 'name="=?UTF-8?B?w6k=?="',
    '=?', '?=', '=\r\n', '=4', '<script>', '<!--', '<p>', '&amp', 'QUJD', '====', '\x00', '\xff\xfe',
  ),
  fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
);

test('random byte soup of MIME pieces: finish() resolves with a bounded result', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(mimeToken, { maxLength: 300 }), fc.integer({ min: 1, max: 5000 }), async (tokens, chunkSize) => {
      const raw = Buffer.from(tokens.join(''), 'latin1');
      expectBounded(await scanWithin(raw, chunkSize), raw);
    }),
    { numRuns: Number(process.env.FG_PROPERTY_RUNS ?? 500) },
  );
});

type Mutation = { at: number; kind: 'delete' | 'duplicate' | 'insert' | 'flip'; length: number; bytes: Uint8Array };
const mutation = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom<Mutation['kind']>('delete', 'duplicate', 'insert', 'flip'),
  length: fc.integer({ min: 1, max: 400 }),
  bytes: fc.uint8Array({ minLength: 1, maxLength: 20 }),
});

function mutate(message: Buffer, mutations: Mutation[]): Buffer {
  let out = message;
  for (const { at: rawAt, kind, length, bytes } of mutations) {
    const at = rawAt % (out.length + 1);
    const end = Math.min(out.length, at + length);
    if (kind === 'delete') out = Buffer.concat([out.subarray(0, at), out.subarray(end)]);
    else if (kind === 'duplicate') out = Buffer.concat([out.subarray(0, end), out.subarray(at, end), out.subarray(end)]);
    else if (kind === 'insert') out = Buffer.concat([out.subarray(0, at), bytes, out.subarray(at)]);
    else if (at < out.length) (out = Buffer.from(out))[at] ^= bytes[0]!;
  }
  return out;
}

test('random mutations of the real fixtures: finish() resolves with a bounded result', async () => {
  await fc.assert(
    fc.asyncProperty(fc.nat(messages.length - 1), fc.array(mutation, { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 70000 }), async (index, mutations, chunkSize) => {
      const raw = mutate(messages[index]!, mutations);
      expectBounded(await scanWithin(raw, chunkSize), raw);
    }),
    { numRuns: Number(process.env.FG_PROPERTY_RUNS ?? 500) },
  );
});
