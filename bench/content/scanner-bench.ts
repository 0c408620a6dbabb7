// The message scanner alone (issue 17): MB/s and messages/s on ordinary mail, and the RSS it adds
// while 16 messages of 50 MB (each with a 40 MB attachment) stream through it at once.
//
// Run (ts-node is not a dependency, so compile into the git-ignored bench/results/tmp), with the
// node flags the service runs under (src/cli/main.ts) and --expose-gc for a clean baseline:
//   npx tsc -p tsconfig.json --outDir bench/results/tmp
//   node --expose-gc --max-semi-space-size=8 --heap-growing-percent=20 bench/results/tmp/bench/content/scanner-bench.js [seconds=3]
// `seconds` is the time spent on each throughput case. Prints figures; asserts nothing. ~1 minute.
//
// Bodies go in as Postfix sends them, in 64 KiB chunks, each body() awaited. The big messages are
// generated chunk by chunk as they are fed (one 64 KiB block of base64 lines, reused), so the bench
// holds none of them: the RSS rise is the scanner's (and V8's) own.
import { performance } from 'node:perf_hooks';
import MailComposer from 'nodemailer/lib/mail-composer';
import { MessageScanner } from '../../src/content/message-scanner';
import type { MessageContent } from '../../src/content/message-content';
import { splitMessage } from '../../test/support/message-feed';

const CHUNK = 65536;
const MIB = 1 << 20;
const seconds = Number(process.argv[2] ?? 3);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

/** A scanner fed with the header fields and then the body chunks `body` yields. */
async function scan(headers: [string, string][], body: Iterable<Buffer>): Promise<MessageContent> {
  const scanner = new MessageScanner();
  for (const [name, value] of headers) scanner.header(name, value);
  scanner.endOfHeaders();
  for (const chunk of body) await scanner.body(chunk);
  return scanner.finish();
}

function* chunksOf(body: Buffer): Iterable<Buffer> {
  for (let i = 0; i < body.length; i += CHUNK) yield body.subarray(i, i + CHUNK);
}

async function throughput(label: string, raw: Buffer): Promise<void> {
  const { headers, body } = splitMessage(raw);
  const check = await scan(headers, chunksOf(body));
  for (let i = 0; i < 20; i++) await scan(headers, chunksOf(body)); // warm-up
  let messages = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    await scan(headers, chunksOf(body));
    messages++;
  }
  const elapsed = (performance.now() - started) / 1000;
  console.log(
    `${label.padEnd(44)} ${(raw.length / 1024).toFixed(0).padStart(5)} KiB  ${(messages / elapsed).toFixed(0).padStart(6)} messages/s  ` +
      `${((messages * raw.length) / elapsed / MIB).toFixed(1).padStart(6)} MB/s   (${check.attachments.length} attachments, ${check.text.length} chars of text)`,
  );
}

/** 64 KiB of base64 lines (76 characters and CRLF), decoding to pseudo-random bytes. */
function base64Block(): Buffer {
  const lines: string[] = [];
  let seed = 12345;
  while (lines.length * 78 + 78 <= CHUNK) {
    const bytes = Buffer.alloc(57);
    for (let i = 0; i < 57; i++) bytes[i] = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 16;
    lines.push(bytes.toString('base64') + '\r\n');
  }
  return Buffer.from(lines.join(''));
}

/** A 50 MB message: `textBytes` of text in two parts (plain, and quoted-printable HTML), the rest a 40 MB attachment (as base64 on the wire). */
function* bigMessageBody(textBytes: number, block: Buffer, textBlock: Buffer, htmlBlock: Buffer): Iterable<Buffer> {
  yield Buffer.from('--big\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n');
  for (let sent = 0; sent < textBytes / 2; sent += textBlock.length) yield textBlock;
  yield Buffer.from('\r\n--big\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n');
  for (let sent = 0; sent < textBytes / 2; sent += htmlBlock.length) yield htmlBlock;
  yield Buffer.from('\r\n--big\r\nContent-Type: application/zip; name="archive.zip"\r\nContent-Transfer-Encoding: base64\r\n\r\n');
  for (let sent = textBytes; sent < 50 * MIB; sent += block.length) yield block;
  yield Buffer.from('\r\n--big--\r\n');
}

/** Hostile: 50 MB of one body line, no line break, in an HTML part whose comment never closes. */
function* endlessHtmlComment(): Iterable<Buffer> {
  yield Buffer.from('--big\r\nContent-Type: text/html\r\n\r\n<p>hi</p><!-- ');
  const block = Buffer.alloc(CHUNK, 'x');
  for (let sent = 0; sent < 50 * MIB; sent += CHUNK) yield block;
}

async function peakRss(label: string, bodies: () => Iterable<Buffer>[]): Promise<void> {
  const headers: [string, string][] = [['Subject', 'big'], ['Content-Type', 'multipart/mixed; boundary=big']];
  gc();
  await new Promise((resolve) => setTimeout(resolve, 200));
  gc();
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const started = performance.now();
  const results = await Promise.all(bodies().map((body) => scan(headers, body)));
  const elapsed = (performance.now() - started) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  const bytes = results.reduce((sum, content) => sum + content.size, 0);
  console.log(
    `${label.padEnd(44)} RSS before ${(before / MIB).toFixed(1)} MiB, peak +${((peak - before) / MIB).toFixed(1)} MiB; ` +
      `${(bytes / MIB).toFixed(0)} MB in ${elapsed.toFixed(1)} s (${(bytes / MIB / elapsed).toFixed(0)} MB/s); ` +
      `first: ${results[0]!.attachments.map((a) => `${a.name} ${(a.size / MIB).toFixed(1)} MiB`).join(', ') || 'no attachment'}, ` +
      `${results[0]!.text.length} chars of text${results[0]!.textTruncated ? ' (truncated)' : ''}`,
  );
}

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${seconds} s per throughput case, body chunks of 64 KiB`);
  const paragraph = 'Dear customer, your casino bonus is waiting. Lottery Winner announcements follow below. ';
  const small = await new MailComposer({
    from: 'news@example.org', to: 'rcpt@example.net', subject: 'Newsletter',
    text: paragraph.repeat(110), html: `<html><body>${`<p>${paragraph}<b>bold</b> &amp; <a href="https://example.org/x">link</a></p>`.repeat(70)}</body></html>`,
  }).compile().build();
  const large = await new MailComposer({
    from: 'a@example.org', to: 'rcpt@example.net', subject: 'Report', text: paragraph.repeat(10),
    attachments: [{ filename: 'report.pdf', content: Buffer.from(Buffer.alloc(760 * 1024).map((_, i) => (i * 7919) & 0xff)) }],
  }).compile().build();
  await throughput('text + html message', small);
  await throughput('message with a base64 attachment', large);

  const block = base64Block();
  const textBlock = Buffer.from(`${paragraph.repeat(700)}\r\n`.repeat(1));
  const htmlBlock = Buffer.from(`<p>${paragraph}</p>=\r\n`.repeat(600));
  const big = (textBytes: number) => () => Array.from({ length: 16 }, () => bigMessageBody(textBytes, block, textBlock, htmlBlock));
  await peakRss('16 x 50 MB, 120 KB of text, at once', big(4096));
  await peakRss('16 x 50 MB, 5 MB of text (1 MiB kept), at once', big(5 * MIB));
  await peakRss('16 x 50 MB endless line in an HTML comment', () => Array.from({ length: 16 }, () => endlessHtmlComment()));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
