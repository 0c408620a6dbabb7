// The messages of the content benchmark, written as .eml files that milter-load --message-file sends.
// Built by nodemailer's MailComposer (the MIME a mail client writes): text/plain and text/html as
// multipart/alternative, quoted-printable where the text needs it, attachments in base64. The text is
// English-like prose from a fixed word list and a seeded generator, so every run sends the same bytes.
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import MailComposer from 'nodemailer/lib/mail-composer';

const WORDS = ('the of and to in is you that it he was for on are as with his they at be this have from or one had by word but not what all were we when ' +
  'your can said there use an each which she do how their if will up other about out many then them these so some her would make like him into time has ' +
  'look two more write go see number no way could people my than first water been call who oil its now find long down day did get come made may part ' +
  'invoice meeting report quarter shipment schedule delivery customer account update attached review budget project team office').split(' ');

/** A small deterministic generator (mulberry32): the same corpus on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function paragraphs(next: () => number, bytes: number): string[] {
  const out: string[] = [];
  let size = 0;
  while (size < bytes) {
    const words: string[] = [];
    const count = 40 + Math.floor(next() * 60);
    for (let i = 0; i < count; i++) words.push(WORDS[Math.floor(next() * WORDS.length)]!);
    const text = `${words.join(' ')}.`;
    out.push(text.charAt(0).toUpperCase() + text.slice(1));
    size += text.length + 2;
  }
  return out;
}

export interface CorpusMessage {
  file: string;
  bytes: number;
  /** How many of rules/examples/content.yml's three phrases it carries (0, 2 or 3). */
  phrases: number;
  attachment?: { name: string; bytes: number };
}

/** What a kind of message carries: the example's phrases, in the subject and the body text. */
const SPAM_TWO = { subject: 'Your casino bonus is waiting', line: 'Claim your casino bonus today and get cheap VIAGRA delivered.' };
const SPAM_THREE = { subject: 'Lottery Winner', line: 'As our Lottery Winner you receive a casino bonus and free Viagra.' };

async function compose(seed: number, textBytes: number, phrases: 0 | 2 | 3, attachment?: { name: string; bytes: number; type: string }): Promise<Buffer> {
  const next = random(seed);
  // The text part and the HTML part each carry about half of textBytes.
  const text = paragraphs(next, textBytes / 2);
  const spam = phrases === 3 ? SPAM_THREE : phrases === 2 ? SPAM_TWO : undefined;
  if (spam) text.splice(Math.floor(text.length / 2), 0, spam.line);
  const html = `<!DOCTYPE html><html><head><meta charset="utf-8"><style>p{font-family:Arial,sans-serif;font-size:14px}</style></head><body>\n${text
    .map((p, i) => (i % 5 === 4 ? `<p>${p} <a href="https://www.example.com/docs/${seed}/${i}">details</a></p>` : `<p>${p}</p>`))
    .join('\n')}\n<p style="color:#888">-- <br>Example Corp, 1 Main Street</p></body></html>`;
  const content = attachment ? Buffer.alloc(attachment.bytes) : undefined;
  if (content) for (let i = 0; i < content.length; i += 4) content.writeUInt32LE((next() * 4294967296) >>> 0, i > content.length - 4 ? content.length - 4 : i);
  const mail = new MailComposer({
    from: `"Sender ${seed}" <sender${seed}@customer.example>`,
    to: `rcpt${seed}@dest.example`,
    subject: spam?.subject ?? `Quarterly report ${seed}: schedule and budget review`,
    date: new Date(Date.UTC(2026, 0, 1, 12, 0, seed % 60)),
    messageId: `<bench-${seed}@customer.example>`,
    headers: { 'X-Mailer': 'Example Mail 1.0' },
    text: text.join('\n\n'),
    html,
    attachments: attachment && content ? [{ filename: attachment.name, content, contentType: attachment.type }] : [],
  });
  return mail.compile().build();
}

/**
 * Writes the message set of one size into `dir`: four messages, two without the example's phrases,
 * one with two of them (prefixed and marked) and one with all three (redirected to the spambox).
 * `20k`: text and HTML only, ~20 KiB. `1m`: ~20 KiB of text and HTML plus a base64 PDF-like
 * attachment, ~1 MiB in all.
 */
export async function writeCorpus(dir: string, size: '20k' | '1m'): Promise<CorpusMessage[]> {
  mkdirSync(dir, { recursive: true });
  const kinds: Array<0 | 2 | 3> = [0, 2, 0, 3];
  const out: CorpusMessage[] = [];
  for (const [i, phrases] of kinds.entries()) {
    const seed = (size === '1m' ? 1000 : 0) + i + 1;
    // Bytes of text before MIME overhead (headers, boundaries, quoted-printable, HTML markup) bring it to the target size.
    const attachment = size === '1m' ? { name: `report-${seed}.pdf`, bytes: 745_000, type: 'application/pdf' } : undefined;
    const raw = await compose(seed, 15_000, phrases, attachment);
    const file = join(dir, `${size}-${i + 1}.eml`);
    writeFileSync(file, raw);
    out.push({ file, bytes: statSync(file).size, phrases, ...(attachment ? { attachment: { name: attachment.name, bytes: attachment.bytes } } : {}) });
  }
  return out;
}

/** The memory benchmark's message: a little text and one large base64 attachment (decoded size `attachmentBytes`). */
export async function writeLargeMessage(file: string, attachmentBytes: number, name = 'backup.tar'): Promise<CorpusMessage> {
  mkdirSync(dirname(file), { recursive: true });
  const raw = await compose(7, 4_000, 0, { name, bytes: attachmentBytes, type: 'application/x-tar' });
  writeFileSync(file, raw);
  return { file, bytes: statSync(file).size, phrases: 0, attachment: { name, bytes: attachmentBytes } };
}
