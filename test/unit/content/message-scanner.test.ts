// The message scanner on real-looking mail: the facts the content rules read, however the body is cut into chunks.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import MailComposer from 'nodemailer/lib/mail-composer';
import { DEFAULT_SCAN_LIMITS, MessageScanner } from '../../../src/content/message-scanner';
import { scanMessage, splitMessage } from '../../support/message-feed';

const fixture = (name: string): Buffer => readFileSync(path.join(__dirname, '../../fixtures/content', name));

describe('real-looking messages', () => {
  test('multipart/alternative: quoted-printable text and HTML reduced to text, the subject decoded', async () => {
    const content = await scanMessage(fixture('newsletter.eml'));
    expect(content.subject).toBe('Über unsere Angebote: casino bonus');
    expect(content.messageId).toBe('<newsletter@example.org>');
    // The HTML's script, style and head are gone; entities decoded; block elements break lines.
    expect(content.text).toBe('Grüße aus München: casino bonus für Sie!\n\nGrüße aus München\ncasino bonus\none\ntwo');
    expect(content.text).not.toContain('viagra');
    expect(content).toMatchObject({ attachments: [], problems: [], unparseable: undefined, textTruncated: false });
    expect(content.size).toBe(fixture('newsletter.eml').length);
  });

  test('RFC 2231 continuations in a long non-ASCII file name; a text/plain file is an attachment, not body text', async () => {
    const content = await scanMessage(fixture('rfc2231-attachment.eml'));
    expect(content.attachments).toEqual([
      { name: 'Rechnung für Dezember 2026 – Übersicht über alle Positionen.pdf.exe', type: 'application/octet-stream', size: 30000, depth: 0 },
      { name: 'notes.txt', type: 'text/plain', size: 30, depth: 0 },
    ]);
    expect(content.text).toBe('Siehe Anhang.');
  });

  test('an attached message is entered: its text joins the text, its files come with depth 1', async () => {
    const content = await scanMessage(fixture('forwarded.eml'));
    expect(content.text).toBe('See the forwarded message.\nYou are a Lottery Winner. Open the attached script.');
    expect(content.attachments).toEqual([
      { name: 'notice.eml', type: 'message/rfc822', size: 650, depth: 0 },
      { name: 'claim.vbs', type: 'text/vbscript', size: 16, depth: 1 },
      { name: 'attachment-2.png', type: 'image/png', size: 100, depth: 0 },
    ]);
    expect(content.subject).toBe('Fwd: Lottery Winner notice'); // the top message's, not the attached one's
  });

  test('every way of naming a file; a base64 attached message with an RFC 2231 .vbs inside', async () => {
    const content = await scanMessage(fixture('names.eml'));
    expect(content.subject).toBe('Grüße and € prices');
    expect(content.messageId).toBe('<names@example.org>');
    expect(content.attachments).toEqual([
      { name: 'übersicht.pdf', type: 'application/pdf', size: 9, depth: 0 }, // RFC 2047 in Content-Type name=
      { name: 'setup.exe', type: 'application/x-msdownload', size: 12, depth: 0 }, // unquoted filename=
      { name: '€-report.js', type: 'text/plain', size: 8, depth: 0 }, // filename*0*= and a quoted filename*1=
      { name: undefined, type: 'application/octet-stream', size: 8, depth: 0 }, // attachment without a name
      { name: 'fwd.eml', type: 'message/rfc822', size: 372, depth: 0 },
      { name: 'rechnung€.vbs', type: 'application/octet-stream', size: 11, depth: 1 }, // filename*=utf-8''...
    ]);
    // Latin-1 quoted-printable decoded; preamble and epilogue are not text; the attached message's text is.
    expect(content.text).toBe('Grüße, casino \nbonus today\nviagra inside the attached message');
    expect(content.problems).toEqual([]);
  });

  test('plain RFC 5322 text without MIME is body text', async () => {
    const content = await scanMessage(fixture('plain-rfc5322.eml'));
    expect(content.text).toBe('No MIME at all.\nLottery Winner announced.\n');
    expect(content).toMatchObject({ attachments: [], problems: [], subject: 'just text', messageId: undefined });
  });

  test('a single-part message that is itself a file', async () => {
    const content = await scanMessage('Subject: x\nContent-Type: application/zip; name="a.zip"\nContent-Transfer-Encoding: base64\n\nUEsDBA==\n');
    expect(content.attachments).toEqual([{ name: 'a.zip', type: 'application/zip', size: 4, depth: 0 }]);
    expect(content.text).toBe('');
  });

  test('built by MailComposer: base64 HTML in a charset of its own, sizes of binary attachments exact', async () => {
    const attachment = Buffer.alloc(123457, 0xa5);
    const raw = await new MailComposer({
      from: 'a@example.org', subject: 'Кириллица', textEncoding: 'base64',
      html: '<p>Выигрыш&nbsp;<i>casino</i> bonus</p>',
      attachments: [{ filename: 'data.bin', content: attachment }],
    }).compile().build();
    const content = await scanMessage(raw);
    expect(content.subject).toBe('Кириллица');
    expect(content.text).toBe('Выигрыш casino bonus');
    expect(content.attachments).toEqual([{ name: 'data.bin', type: 'application/octet-stream', size: 123457, depth: 0 }]);
  });
});

describe('as the milter delivers it', () => {
  test.each(['newsletter.eml', 'rfc2231-attachment.eml', 'forwarded.eml', 'names.eml', 'unclosed-boundary.eml', 'broken-base64.eml', 'nul-and-8bit.eml'])(
    '%s: the same facts whatever the chunk size (1 byte to 64 KiB)',
    async (name) => {
      const whole = await scanMessage(fixture(name));
      for (const chunkSize of [1, 2, 3, 5, 76, 1000]) expect(await scanMessage(fixture(name), { chunkSize })).toEqual(whole);
    },
  );

  test('header values with or without their leading blank, folded with CRLF, are unfolded and decoded', async () => {
    const scanner = new MessageScanner();
    scanner.header('Subject', ' =?UTF-8?Q?caf=C3=A9?=\r\n =?UTF-8?Q?_casino?=\r\n\tbonus ');
    scanner.header('X-Plain', 'no blank');
    scanner.header('Message-ID', ' <id@example.org> ');
    scanner.endOfHeaders();
    await scanner.body(Buffer.from('body\r\n'));
    const content = await scanner.finish();
    expect(content.headers).toEqual([
      { name: 'Subject', value: 'café casino\tbonus' },
      { name: 'X-Plain', value: 'no blank' },
      { name: 'Message-ID', value: '<id@example.org>' },
    ]);
    expect(content.subject).toBe('café casino\tbonus');
    expect(content.messageId).toBe('<id@example.org>');
    // "Subject: ...\r\n" as sent, "X-Plain: no blank\r\n" with the blank put back, the empty line, the body.
    expect(content.size).toBe(Buffer.byteLength('Subject: =?UTF-8?Q?caf=C3=A9?=\r\n =?UTF-8?Q?_casino?=\r\n\tbonus \r\nX-Plain: no blank\r\nMessage-ID: <id@example.org> \r\n\r\nbody\r\n'));
  });

  test('the size is the header block and the body as received', async () => {
    for (const name of ['newsletter.eml', 'forwarded.eml', 'rfc2231-attachment.eml', 'plain-rfc5322.eml']) {
      expect((await scanMessage(fixture(name))).size).toBe(fixture(name).length);
    }
  });

  test('a body chunk the parser cannot take at once returns a promise (back-pressure), and awaiting it goes on', async () => {
    const { headers, body } = splitMessage(fixture('rfc2231-attachment.eml'));
    const scanner = new MessageScanner();
    for (const [name, value] of headers) scanner.header(name, value);
    scanner.endOfHeaders();
    const pending = scanner.body(body);
    expect(pending).toBeInstanceOf(Promise);
    await pending;
    expect((await scanner.finish()).attachments).toHaveLength(2);
  });

  test('finish without endOfHeaders or body, and body without endOfHeaders, still give results', async () => {
    const bare = new MessageScanner();
    bare.header('Subject', 'only headers');
    expect(await bare.finish()).toMatchObject({ subject: 'only headers', text: '', size: 'Subject: only headers\r\n\r\n'.length, unparseable: undefined });
    const noEoh = new MessageScanner();
    noEoh.header('Subject', 's');
    await noEoh.body(Buffer.from('text\r\n'));
    expect((await noEoh.finish()).text).toBe('text\n');
  });

  test('finish called twice gives the same result; body after finish is ignored', async () => {
    const scanner = new MessageScanner();
    scanner.endOfHeaders();
    await scanner.body(Buffer.from('one'));
    const first = scanner.finish();
    expect(scanner.body(Buffer.from('two'))).toBeUndefined();
    expect(scanner.finish()).toBe(first);
    expect((await first).text).toBe('one');
  });

  test('dispose stops the scan: safe twice, after finish, and finish still resolves (unparseable "aborted")', async () => {
    const scanner = new MessageScanner();
    scanner.endOfHeaders();
    await scanner.body(Buffer.from('Content-Type: text/plain\r\n\r\nsome text\r\n'));
    scanner.dispose();
    scanner.dispose();
    expect(scanner.body(Buffer.from('more'))).toBeUndefined();
    expect(await scanner.finish()).toMatchObject({ unparseable: 'aborted', headers: [] });

    const finished = new MessageScanner();
    finished.endOfHeaders();
    await finished.body(Buffer.from('text'));
    const content = await finished.finish();
    finished.dispose();
    finished.dispose();
    expect(content).toMatchObject({ text: 'text', unparseable: undefined });
  });

  test('dispose while a chunk is still being parsed releases the waiting caller', async () => {
    const scanner = new MessageScanner();
    scanner.endOfHeaders();
    const pending = scanner.body(Buffer.alloc(1 << 20, 'a'));
    scanner.dispose();
    await pending; // resolves: the parser is closed, nothing is left to wait for
    expect((await scanner.finish()).unparseable).toBe('aborted');
  });

  test('the limits default to 1 MiB of text, 1000 parts, 20 levels, 64 KiB per header field', () => {
    expect(DEFAULT_SCAN_LIMITS).toMatchObject({ maxScanBytes: 1 << 20, maxParts: 1000, maxDepth: 20, maxHeaderBytes: 64 << 10 });
  });
});
