// Gathers the readable text of a message's text parts within a budget: charsets decoded, HTML reduced to text.
import { Tokenizer } from 'htmlparser2';
import iconv from 'iconv-lite';

/** Characters of text gathered in small pieces before they are joined into one string. */
const BLOCK_CHARS = 16384;

/** Where a text part's decoded words go. */
export interface TextSink {
  /** Bytes after the transfer encoding was undone, before the charset is. */
  write(decoded: Buffer): void;
  end(): void;
}

/** Elements whose text no reader sees. */
const HIDDEN_ELEMENTS = new Set(['script', 'style', 'template', 'head']);
/** Elements that start a new line, so that words on either side never run together. */
const BLOCK_ELEMENTS = new Set([
  'address', 'article', 'aside', 'blockquote', 'br', 'dd', 'div', 'dl', 'dt', 'fieldset', 'figcaption', 'figure',
  'footer', 'form', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'header', 'hr', 'li', 'main', 'nav', 'ol', 'p', 'pre',
  'section', 'table', 'td', 'th', 'tr', 'ul',
]);

/**
 * The message's text: parts in order, joined by '\n', at most `maxChars` UTF-16 code units, from at
 * most `maxInputBytes` decoded bytes of text parts (HTML's markup counts: it bounds the work, and
 * what htmlparser2 holds while a tag or comment is open).
 */
export class TextCollector {
  /** Finished blocks of about BLOCK_CHARS, each one flat string. */
  private readonly blocks: string[] = [];
  /** The small pieces of the block being filled (HTML gives a piece per run of text). */
  private pieces: string[] = [];
  private piecesLength = 0;
  private length = 0;
  private inputBytes = 0;
  private full = false;
  /** Set when text was dropped for a budget. */
  truncated = false;

  constructor(
    private readonly maxChars: number,
    private readonly maxInputBytes: number,
    private readonly noteProblem: (problem: string) => void,
  ) {}

  /** True when no more text fits: text parts need not be decoded at all. */
  get isFull(): boolean {
    return this.full;
  }

  get text(): string {
    this.closeBlock();
    const text = this.blocks.join('');
    this.blocks.splice(0, this.blocks.length, text); // one copy kept, not the blocks beside it
    return text;
  }

  /** A sink for one text/plain or text/html part in `charset` (as declared, or false). */
  startPart(kind: 'plain' | 'html', charset: string | false): TextSink {
    const part = new TextPart(this);
    const decoder = charsetDecoder(charset, this.noteProblem);
    const out = kind === 'html' ? htmlToText(part) : plainText(part);
    return {
      write: (decoded) => {
        if (this.full || decoded.length === 0) return;
        const room = this.maxInputBytes - this.inputBytes;
        const over = decoded.length > room;
        if (over) decoded = decoded.subarray(0, room);
        this.inputBytes += decoded.length;
        const text = decoder.write(decoded);
        if (text) out(text);
        if (over) this.truncate();
      },
      end: () => {
        const rest = decoder.end();
        if (rest && !this.full) out(rest);
        out(undefined);
      },
    };
  }

  /** Appends text, the separator first when the part is not the first with text; false once full. */
  append(text: string, separate: boolean): boolean {
    if (this.full) return false;
    if (separate && this.length > 0) text = '\n' + text;
    const room = this.maxChars - this.length;
    if (text.length > room) {
      text = text.slice(0, room);
      this.truncate();
    }
    this.pieces.push(text);
    this.piecesLength += text.length;
    this.length += text.length;
    if (this.piecesLength >= BLOCK_CHARS) this.closeBlock();
    return !this.full;
  }

  /**
   * Joins the small pieces into one flat string: thousands of short strings (or a concatenation
   * tree of them) cost V8 several times the characters they hold.
   */
  private closeBlock(): void {
    if (this.pieces.length === 0) return;
    this.blocks.push(this.pieces.join(''));
    this.pieces = [];
    this.piecesLength = 0;
  }

  private truncate(): void {
    this.full = true;
    this.truncated = true;
  }
}

/** One part's output: the separator goes before its first words. */
class TextPart {
  private started = false;
  constructor(private readonly collector: TextCollector) {}

  add(text: string): void {
    if (text === '') return;
    this.collector.append(text, !this.started);
    this.started = true;
  }
}

/**
 * A streaming decoder for a declared charset; multi-byte characters cut by a chunk boundary are
 * kept for the next chunk. An unknown charset is read as UTF-8 (ASCII words still match), noted.
 */
function charsetDecoder(charset: string | false, noteProblem: (problem: string) => void): iconv.DecoderStream {
  const label = charset ? charset.trim().toLowerCase() : '';
  if (label !== '' && label !== 'us-ascii' && label !== 'ascii') {
    if (iconv.encodingExists(label)) return iconv.getDecoder(label);
    // encodingExists is typed as a guard, which would leave `label` as never here.
    const unknown: string = charset || '';
    noteProblem(`unknown-charset:${unknown.trim().toLowerCase().replace(/[^a-z0-9._:-]/g, '?').slice(0, 40)}`);
  }
  // No charset or US-ASCII: 8-bit bytes in such parts are UTF-8 far more often than not.
  return iconv.getDecoder('utf-8');
}

/** Plain text as it is, line ends as '\n'. Call with undefined at the end of the part. */
function plainText(part: TextPart): (text: string | undefined) => void {
  return (text) => {
    if (text !== undefined) part.add(text.replace(/\r/g, ''));
  };
}

/** The end of the previous chunk kept for a tag name or a '<' cut by a chunk boundary; longer names matter to no rule. */
const HTML_CARRY = 64;

/**
 * A streaming HTML-to-text reducer on htmlparser2's Tokenizer (no DOM, and not its Parser, which
 * keeps every chunk while a comment or tag stays open and every attribute value whole: 50 MB of
 * `<!--` would be held). Memory is the current chunk and 64 characters of the one before. Text
 * outside script, style and head; entities decoded; blanks collapsed as a browser shows them; a
 * line break at block elements. Call with undefined at the end of the part.
 */
function htmlToText(part: TextPart): (html: string | undefined) => void {
  let chunk = '';
  let offset = 0; // position of `chunk` in the whole part
  let carry = ''; // the last characters before `chunk`
  const slice = (start: number, end: number): string => {
    const from = start - offset;
    if (from >= 0) return chunk.slice(from, end - offset);
    const to = end - offset; // negative: the range ends before this chunk too
    return carry.slice(Math.max(0, carry.length + from), to < 0 ? carry.length + to : carry.length) + chunk.slice(0, Math.max(0, to));
  };
  let hidden = 0;
  let pendingBreak = false;
  let pendingSpace = false;
  let atLineStart = true;
  const emit = (text: string): void => {
    if (hidden > 0) return;
    const words = text.split(/[ \t\r\n\f\u00a0]+/);
    let out = '';
    for (let i = 0; i < words.length; i++) {
      if (i > 0) pendingSpace = true;
      const word = words[i]!;
      if (word === '') continue;
      if (pendingBreak && !atLineStart) out += '\n';
      else if (pendingSpace && !atLineStart) out += ' ';
      pendingBreak = pendingSpace = atLineStart = false;
      out += word;
    }
    part.add(out);
  };
  const tag = (start: number, end: number, opening: boolean): void => {
    if (end - start > 16) return; // no element this reducer knows has a longer name
    const name = slice(start, end).toLowerCase();
    if (HIDDEN_ELEMENTS.has(name)) hidden = Math.max(0, hidden + (opening ? 1 : -1));
    else if (BLOCK_ELEMENTS.has(name)) pendingBreak = true;
  };
  const ignore = (): void => {};
  const tokenizer = new Tokenizer(
    { decodeEntities: true },
    {
      ontext: (start, end) => emit(slice(start, end)),
      ontextentity: (codepoint) => emit(String.fromCodePoint(codepoint)),
      onopentagname: (start, end) => tag(start, end, true),
      onclosetag: (start, end) => tag(start, end, false),
      onselfclosingtag: ignore,
      onopentagend: ignore,
      onattribdata: ignore,
      onattribentity: ignore,
      onattribend: ignore,
      onattribname: ignore,
      oncdata: ignore,
      oncomment: ignore,
      ondeclaration: ignore,
      onprocessinginstruction: ignore,
      onend: ignore,
    },
  );
  return (html) => {
    if (html === undefined) return tokenizer.end();
    carry = (carry + chunk).slice(-HTML_CARRY);
    offset += chunk.length;
    chunk = html;
    tokenizer.write(html);
  };
}
