// Hostile and broken MIME: every case ends with a defined result (problems, or unparseable with a reason), never a throw or a stall.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { MessageScanner } from '../../../src/content/message-scanner';
import { scanMessage } from '../../support/message-feed';

const fixture = (name: string): Buffer => readFileSync(path.join(__dirname, '../../fixtures/content', name));

/** `depth` multiparts, each inside the one before, a text part at the bottom. */
function nestedMultiparts(depth: number): string {
  let message = 'Subject: deep\r\nContent-Type: multipart/mixed; boundary="b0"\r\n\r\n';
  for (let level = 1; level < depth; level++) message += `--b${level - 1}\r\nContent-Type: multipart/mixed; boundary="b${level}"\r\n\r\n`;
  message += `--b${depth - 1}\r\nContent-Type: text/plain\r\n\r\nbottom\r\n`;
  for (let level = depth - 1; level >= 0; level--) message += `--b${level}--\r\n`;
  return message;
}

/** `depth` messages, each attached to the one before (message/rfc822, inline, 7bit). */
function nestedMessages(depth: number): string {
  let message = 'Subject: bottom\r\n\r\nbottom text\r\n';
  for (let level = 0; level < depth; level++) {
    message = `Subject: level ${level}\r\nContent-Type: multipart/mixed; boundary="m${level}"\r\n\r\n--m${level}\r\nContent-Type: message/rfc822\r\n\r\n${message}\r\n--m${level}--\r\n`;
  }
  return message;
}

describe('limits of the structure: unparseable with a reason, what was found so far kept', () => {
  test('100 levels of nested multiparts: too-deep past 20 levels', async () => {
    const content = await scanMessage(nestedMultiparts(100));
    expect(content.unparseable).toBe('too-deep');
    expect(content.problems).toContain('too-deep');
    expect(content.subject).toBe('deep');
  });

  test('20 levels of multiparts are within the limit', async () => {
    const content = await scanMessage(nestedMultiparts(20));
    expect(content).toMatchObject({ unparseable: undefined, text: 'bottom', problems: [] });
  });

  test('100 attached messages, each inside the one before: too-deep, the outer levels read', async () => {
    const content = await scanMessage(nestedMessages(100), { chunkSize: 4096 });
    expect(content.unparseable).toBe('too-deep');
    expect(content.attachments.length).toBeGreaterThan(5);
    expect(content.attachments.slice(0, 3).map((a) => [a.type, a.depth])).toEqual([['message/rfc822', 0], ['message/rfc822', 1], ['message/rfc822', 2]]);
  });

  test('5 attached messages, each inside the one before: read to the bottom, depths 0 to 4', async () => {
    const content = await scanMessage(nestedMessages(5));
    expect(content).toMatchObject({ unparseable: undefined, text: 'bottom text\n' });
    expect(content.attachments.map((a) => a.depth)).toEqual([0, 1, 2, 3, 4]);
  });

  test('10,000 parts: too-many-parts past 1000', async () => {
    let message = 'Content-Type: multipart/mixed; boundary=p\r\n\r\n';
    for (let i = 0; i < 10000; i++) message += `--p\r\nContent-Type: application/octet-stream; name="f${i}.bin"\r\n\r\nx\r\n`;
    message += '--p--\r\n';
    const content = await scanMessage(message);
    expect(content.unparseable).toBe('too-many-parts');
    expect(content.attachments.length).toBeLessThanOrEqual(1000);
    expect(content.attachments.length).toBeGreaterThan(900);
  });

  test('a lower part limit is applied over all levels', async () => {
    const content = await scanMessage(nestedMessages(5), { limits: { maxParts: 4 } });
    expect(content.unparseable).toBe('too-many-parts');
  });

  test("a 1 MB header line in a part's headers: part-header-too-long", async () => {
    const message = `Content-Type: multipart/mixed; boundary=h\r\n\r\n--h\r\nContent-Type: text/plain\r\nX-Long: ${'a'.repeat(1 << 20)}\r\n\r\ntext\r\n--h--\r\n`;
    const content = await scanMessage(message);
    expect(content.unparseable).toBe('part-header-too-long');
  });
});

describe('oddities: noted as problems, the rest read', () => {
  test('a 1 MB top-level header line is cut at 64 KiB (header-too-long)', async () => {
    const scanner = new MessageScanner();
    scanner.header('Subject', 'x'.repeat(1 << 20));
    scanner.header('X-Folded', `${'y'.repeat(100000)}\r\n ${'z'.repeat(100000)}`);
    scanner.endOfHeaders();
    await scanner.body(Buffer.from('body\r\n'));
    const content = await scanner.finish();
    expect(content.subject).toHaveLength(64 * 1024);
    expect(content.headers[1]!.value).toHaveLength(64 * 1024);
    expect(content.problems).toEqual(['header-too-long']);
    expect(content.size).toBe((1 << 20) + 'Subject: \r\n'.length + 200003 + 'X-Folded: \r\n'.length + 2 + 6);
    expect(content.text).toBe('body\n');
  });

  test('a 1 MB Content-Type with a boundary past the cut: the body is read as text, not as a crash', async () => {
    const scanner = new MessageScanner();
    scanner.header('Content-Type', `multipart/mixed; x="${'q'.repeat(1 << 20)}"; boundary=b`);
    scanner.endOfHeaders();
    await scanner.body(Buffer.from('--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n'));
    const content = await scanner.finish();
    expect(content.problems).toContain('header-too-long');
    expect(content.unparseable).toBeUndefined();
  });

  test('a missing closing boundary: unclosed-boundary, the parts before it read', async () => {
    const content = await scanMessage(fixture('unclosed-boundary.eml'));
    expect(content).toMatchObject({ text: 'first part', problems: ['unclosed-boundary'], unparseable: undefined });
    expect(content.attachments).toEqual([{ name: 'a.zip', type: 'application/zip', size: 10, depth: 0 }]);
  });

  test('an inner multipart left open, closed by the outer one: unclosed-boundary, the outer parts after it still read', async () => {
    const content = await scanMessage(
      'Content-Type: multipart/mixed; boundary=outer\n\n--outer\nContent-Type: multipart/alternative; boundary=inner\n\n--inner\n\nfirst\n--outer\nContent-Type: text/plain\n\nafter\n--outer--\n',
    );
    expect(content).toMatchObject({ text: 'first\nafter', problems: ['unclosed-boundary'] });
  });

  test('broken base64: bad-base64, decoded as leniently as mail readers do', async () => {
    const content = await scanMessage(fixture('broken-base64.eml'));
    expect(content).toMatchObject({ text: 'hello world', problems: ['bad-base64'], unparseable: undefined });
    expect(content.attachments).toEqual([{ name: 'x.bin', type: 'application/octet-stream', size: 3, depth: 0 }]);
  });

  test('an unknown charset: read as UTF-8, unknown-charset:NAME', async () => {
    const content = await scanMessage(fixture('unknown-charset.eml'));
    expect(content).toMatchObject({ text: 'café casino bonus\n', problems: ['unknown-charset:x-foo-bar'] });
  });

  test('NUL bytes and 8-bit garbage in headers and bodies: read, garbled type taken as application/octet-stream', async () => {
    const content = await scanMessage(fixture('nul-and-8bit.eml'));
    expect(content.unparseable).toBeUndefined();
    expect(content.attachments.map((a) => a.type)).toEqual(['text/plain', 'application/octet-stream']);
    expect(content.attachments[1]!.name).toContain('.exe');
    const text = await scanMessage('Subject: \xff\n\nNUL\x00here \xe9\xff\n');
    expect(text.text).toBe('NUL\x00here \ufffd\ufffd\n');
  });

  test('a body that ends in the middle of a line, inside a part', async () => {
    const content = await scanMessage('Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhalf a li'.replace(/\n/g, '\r\n'));
    expect(content).toMatchObject({ text: 'half a li', problems: ['unclosed-boundary'], unparseable: undefined });
  });

  test('an empty body, and headers only', async () => {
    expect(await scanMessage('Subject: nothing\r\n\r\n')).toMatchObject({ text: '', attachments: [], problems: [], unparseable: undefined });
    expect(await scanMessage('Content-Type: multipart/mixed; boundary=b\r\n\r\n')).toMatchObject({ text: '', unparseable: undefined });
  });

  test('a multipart without a boundary is read as one part', async () => {
    const content = await scanMessage('Content-Type: multipart/mixed\r\n\r\njust text\r\n');
    expect(content).toMatchObject({ text: 'just text\n', problems: ['multipart-without-boundary'] });
  });

  test('a 10 MB body line without a line break is streamed through, not held', async () => {
    const scanner = new MessageScanner();
    scanner.header('Content-Type', 'multipart/mixed; boundary=b');
    scanner.endOfHeaders();
    await scanner.body(Buffer.from('--b\r\nContent-Type: application/octet-stream; name=a.bin\r\n\r\n'));
    const chunk = Buffer.alloc(65536, 'A');
    for (let i = 0; i < 160; i++) await scanner.body(chunk);
    await scanner.body(Buffer.from('\r\n--b--\r\n'));
    const content = await scanner.finish();
    expect(content.attachments).toEqual([{ name: 'a.bin', type: 'application/octet-stream', size: 160 * 65536, depth: 0 }]);
  });
});

describe('text budgets', () => {
  test('text past maxScanBytes is cut and marked truncated', async () => {
    const content = await scanMessage(`Subject: big\r\n\r\n${'casino '.repeat(50000)}`, { limits: { maxScanBytes: 1000 } });
    expect(content.text).toHaveLength(1000);
    expect(content.textTruncated).toBe(true);
  });

  test('HTML with a comment that never closes stops at maxTextInputBytes', async () => {
    const html = `<p>before</p><!-- ${'x'.repeat(300000)}`;
    const content = await scanMessage(`Content-Type: text/html\r\n\r\n${html}`, { limits: { maxTextInputBytes: 100000 } });
    expect(content).toMatchObject({ text: 'before', textTruncated: true });
  });

  test('a later text part gets nothing once the budget is spent; attachments are still counted', async () => {
    const message = `Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n${'a'.repeat(2000)}\r\n--b\r\n\r\nlater\r\n--b\r\nContent-Type: image/gif; name=x.gif\r\n\r\nGIF89a\r\n--b--\r\n`;
    const content = await scanMessage(message, { limits: { maxScanBytes: 1500 } });
    expect(content.text).toBe('a'.repeat(1500));
    expect(content.attachments).toEqual([{ name: 'x.gif', type: 'image/gif', size: 6, depth: 0 }]);
  });
});
