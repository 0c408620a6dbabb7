// Reads one message as the milter delivers it (header fields, then body chunks) into the facts the content rules use.
import type { HeaderField, MessageContent } from './message-content';
import { decodeHeaderValue, headerLine } from './header-field';
import { MimeWalker } from './mime-walker';
import { DEFAULT_SCAN_LIMITS, type ScanLimits } from './scan-limits';
import { ScanState } from './scan-state';

export { DEFAULT_SCAN_LIMITS, type ScanLimits } from './scan-limits';

/** The top-level fields that shape the MIME structure: the only ones the MIME parser is given. */
const MIME_FIELDS = new Set(['content-type', 'content-transfer-encoding', 'content-disposition']);

/**
 * One message's scan, fed by the milter stages: `header` per field, `endOfHeaders`, `body` per
 * chunk (await a returned promise before the next), `finish` at end of message, or `dispose` when
 * the message is aborted. Memory stays bounded by the limits whatever the message holds; hostile
 * structure ends as `unparseable` with a reason, never as a throw or a stall.
 */
export class MessageScanner {
  private readonly limits: ScanLimits;
  private readonly scan: ScanState;
  private readonly headers: HeaderField[] = [];
  private mimeHeaderBlock = '';
  private root: MimeWalker | undefined;
  private size = 0;
  private headerFields = 0;
  private subject: string | undefined;
  private messageId: string | undefined;
  private disposed = false;
  private result: Promise<MessageContent> | undefined;

  constructor(limits: Partial<ScanLimits> = {}) {
    this.limits = { ...DEFAULT_SCAN_LIMITS, ...limits };
    this.scan = new ScanState(this.limits);
    this.scan.onFail(() => this.root?.destroy());
  }

  /** One top-level header field as the milter delivers it (folds as CRLF + blank, no CRLF at the end). */
  header(name: string, value: string): void {
    if (this.root !== undefined || this.disposed) return;
    this.size += Buffer.byteLength(headerLine(name, value, Infinity));
    if (++this.headerFields > this.limits.maxHeaderFields) return this.scan.noteProblem('too-many-headers');
    const decoded = decodeHeaderValue(value, this.limits.maxHeaderBytes);
    if (decoded.cut) this.scan.noteProblem('header-too-long');
    this.headers.push({ name, value: decoded.value });
    const key = name.trim().toLowerCase();
    if (key === 'subject' && this.subject === undefined) this.subject = decoded.value;
    else if (key === 'message-id' && this.messageId === undefined) this.messageId = decoded.value;
    if (MIME_FIELDS.has(key)) this.mimeHeaderBlock += headerLine(name, value, this.limits.maxHeaderBytes);
  }

  /** After endOfHeaders: what header-stage rules read, the fields alone (no text, no attachments yet). */
  headerContent(): MessageContent {
    return {
      headers: [...this.headers],
      text: '',
      textTruncated: false,
      attachments: [],
      size: this.size,
      messageId: this.messageId,
      subject: this.subject,
      problems: [...this.scan.problems],
      unparseable: undefined,
    };
  }

  endOfHeaders(): void {
    if (this.root !== undefined || this.disposed) return;
    this.size += 2; // the empty line after the header block
    // The top headers are at most three fields of maxHeaderBytes: the splitter must take them all.
    const block = Buffer.from(this.mimeHeaderBlock + '\r\n', 'latin1');
    this.mimeHeaderBlock = '';
    this.root = new MimeWalker(this.scan, 0, 0, Math.max(this.limits.maxPartHeaderBytes, block.length + 1024));
    this.feed(block);
  }

  /** Body bytes as the MTA streams them; a returned promise is back-pressure. */
  body(chunk: Buffer): void | Promise<void> {
    if (this.disposed || this.result !== undefined) return;
    if (this.root === undefined) this.endOfHeaders();
    this.size += chunk.length;
    return this.feed(chunk);
  }

  /** The end of the message: resolves (never rejects) with what was found. Later calls get the same result. */
  finish(): Promise<MessageContent> {
    this.result ??= this.read();
    return this.result;
  }

  /** The message was aborted: stops the parser and drops what it holds. Safe to call more than once, and after finish. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.root?.destroy();
    this.root = undefined;
    this.headers.length = 0;
    this.mimeHeaderBlock = '';
  }

  private feed(bytes: Buffer): void | Promise<void> {
    if (this.scan.unparseable !== undefined || this.root === undefined) return;
    try {
      return this.root.write(bytes);
    } catch {
      this.scan.fail('parser-error');
    }
  }

  private async read(): Promise<MessageContent> {
    try {
      if (!this.disposed) {
        if (this.root === undefined) this.endOfHeaders();
        if (this.scan.unparseable === undefined) await this.root?.end();
      }
    } catch {
      this.scan.fail('parser-error');
    } finally {
      this.root?.destroy();
    }
    if (this.disposed && this.scan.unparseable === undefined) this.scan.fail('aborted');
    return {
      headers: [...this.headers],
      text: this.scan.text.text,
      textTruncated: this.scan.text.truncated,
      attachments: this.scan.attachments.map((attachment) => ({ ...attachment })),
      size: this.size,
      messageId: this.messageId,
      subject: this.subject,
      problems: this.scan.problems,
      unparseable: this.scan.unparseable,
    };
  }
}
