// Follows the MIME structure of one message level (the top message or an attached one) as its bytes stream in.
import type { Transform } from 'node:stream';
import { Splitter, type MimeNode, type SplitterChunk } from '@zone-eu/mailsplit';
import type { CountingAttachment, ScanState } from './scan-state';
import type { TextSink } from './text-collector';
import { transferDecoder, type TransferDecoder } from './transfer-decoding';

/** RFC 2045 5.1's token syntax for type/subtype; anything else counts as no declared type. */
const MIME_TYPE = /^[a-z0-9!#$%&'*+.^_`{|}~-]+\/[a-z0-9!#$%&'*+.^_`{|}~-]+$/;
const UNKNOWN_TYPE = 'application/octet-stream';

/** What happens to one leaf part's body bytes. */
interface PartSink {
  write(body: Buffer): void | Promise<void>;
  /** The part's body is over; a promise while an attached message is still being read. */
  end(): void | Promise<void>;
  destroy(): void;
}

/**
 * One message level on @zone-eu/mailsplit's Splitter, which cuts the byte stream into parts line
 * by line without holding a part's body. Attached messages (message/rfc822, whatever their
 * disposition or transfer encoding) get a walker of their own one level down, fed with the part's
 * decoded body, so that their parts and text are found as the top message's are.
 */
export class MimeWalker {
  private readonly splitter: Splitter;
  private sink: PartSink | undefined;
  /** The part `sink` reads. */
  private sinkNode: MimeNode | undefined;
  /** Multiparts whose closing delimiter has not been seen (for the 'unclosed-boundary' problem). */
  private readonly unclosed = new Set<MimeNode>();
  private readonly finished: Promise<void>;
  private stopped = false;

  constructor(
    private readonly scan: ScanState,
    /** 0 for the top message, 1 for a message attached to it, ... */
    private readonly messageDepth: number,
    /** The nesting level of this message's root part. */
    private readonly baseLevel: number,
    maxHeadSize: number = scan.limits.maxPartHeaderBytes,
  ) {
    // maxChildNodes: our own count (over all levels) fails first; the splitter's is a backstop.
    this.splitter = new Splitter({ ignoreEmbedded: true, maxHeadSize, maxChildNodes: scan.limits.maxParts + 1 });
    // The typings declare only the Splitter's own 'data' event, hiding the Transform's.
    const stream = this.splitter as unknown as Transform;
    this.finished = new Promise((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.on('error', (error: Error & { code?: string }) => {
        this.scan.fail(splitterFailure(error));
        resolve();
      });
    });
    this.splitter.on('data', (chunk: SplitterChunk) => this.onChunk(chunk));
  }

  /** Feeds raw bytes; a promise when the splitter is behind (wait for it before the next write). */
  write(bytes: Buffer): void | Promise<void> {
    if (this.isClosed() || this.splitter.write(bytes)) return;
    const stream = this.splitter as unknown as Transform;
    return new Promise((resolve) => {
      const done = (): void => {
        stream.off('drain', done);
        stream.off('close', done);
        resolve();
      };
      stream.on('drain', done);
      stream.on('close', done);
    });
  }

  /** The bytes are all in: resolves when every part (and attached message) has been read. */
  async end(): Promise<void> {
    if (!this.isClosed()) this.splitter.end();
    await this.finished;
    await this.endSink();
    if (this.unclosed.size > 0 && this.scan.unparseable === undefined) this.scan.noteProblem('unclosed-boundary');
  }

  /** Stops at once; whatever is pending resolves. */
  destroy(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.sink?.destroy();
    this.sink = undefined;
    this.sinkNode = undefined;
    this.splitter.destroy();
  }

  /** Destroyed, failed (a splitter error destroys it), or the scan given up: no more input. */
  private isClosed(): boolean {
    return this.stopped || this.splitter.destroyed || this.scan.unparseable !== undefined;
  }

  private onChunk(chunk: SplitterChunk): void {
    if (this.stopped || this.scan.unparseable !== undefined) return;
    try {
      if (chunk.type === 'node') this.onPartStart(chunk);
      else if (chunk.type === 'data' && chunk.node !== this.sinkNode) this.onStructure(chunk.node, chunk.value);
      else this.pauseFor(this.sink?.write(chunk.value));
    } catch {
      // A decoder or the HTML parser threw: the scan gives up on the structure, the message goes on.
      this.scan.fail('parser-error');
    }
  }

  /** A new part: the previous leaf's body is over. An attached message is read to its end first, so that text stays in order. */
  private onPartStart(node: MimeNode): void {
    const ending = this.endSink();
    if (ending) {
      this.pauseFor(ending.then(() => this.onPartStart(node)));
      return;
    }
    if (++this.scan.parts > this.scan.limits.maxParts) return this.scan.fail('too-many-parts');
    const level = this.baseLevel + ancestors(node);
    if (level > this.scan.limits.maxDepth) return this.scan.fail('too-deep');
    if (node.multipart && node._boundary) {
      this.unclosed.add(node);
      return;
    }
    if (node.multipart) {
      // No boundary, no parts: its body is read as text, so that text cannot hide behind the trick.
      this.scan.noteProblem('multipart-without-boundary');
      this.startSink(node, this.textSink('plain', node));
      return;
    }
    this.startSink(node, this.sinkFor(node, level));
  }

  /**
   * Delimiters, preambles and epilogues: only closing delimiters matter here. The splitter hands
   * consecutive such lines over as one chunk, named after the first line's part, so a run of
   * closing delimiters ("--inner--", "--outer--") is checked against that part and its ancestors.
   */
  private onStructure(node: MimeNode, bytes: Buffer): void {
    if (this.unclosed.size === 0) return;
    for (let part: MimeNode | false = node; part; part = part.parentNode) {
      const boundary = part._boundary;
      if (boundary && this.unclosed.has(part) && bytes.includes(Buffer.concat([DASHES, boundary, DASHES]))) this.unclosed.delete(part);
    }
  }

  private sinkFor(node: MimeNode, level: number): PartSink | undefined {
    const declared = node.headers && node.headers.get('Content-Type').length > 0 ? node.contentType : false;
    const type = declared && MIME_TYPE.test(declared) ? declared : UNKNOWN_TYPE;
    const name = node.filename || undefined;
    const encoding = node.encoding || '';
    if (type === 'message/rfc822') {
      const attachment = this.recordAttachment(name, type);
      const child = new MimeWalker(this.scan, this.messageDepth + 1, level + 1);
      this.scan.onFail(() => child.destroy());
      return new AttachedMessageSink(transferDecoder(encoding, true), attachment, child, this.scan);
    }
    if (name !== undefined || node.disposition === 'attachment') {
      return new CountingSink(transferDecoder(encoding, false), this.recordAttachment(name, type), this.scan);
    }
    const textKind = !declared || type === 'text/plain' ? 'plain' : type === 'text/html' ? 'html' : undefined;
    return textKind === undefined ? undefined : this.textSink(textKind, node);
  }

  private textSink(kind: 'plain' | 'html', node: MimeNode): PartSink | undefined {
    if (this.scan.text.isFull) return undefined;
    return new TextPartSink(transferDecoder(node.encoding || '', true), this.scan.text.startPart(kind, node.charset), this.scan);
  }

  private startSink(node: MimeNode, sink: PartSink | undefined): void {
    this.sink = sink;
    this.sinkNode = sink ? node : undefined;
  }

  private recordAttachment(name: string | undefined, type: string): CountingAttachment {
    const attachment: CountingAttachment = { name, type, size: 0, depth: this.messageDepth };
    this.scan.attachments.push(attachment);
    return attachment;
  }

  private endSink(): Promise<void> | undefined {
    const sink = this.sink;
    this.sink = undefined;
    this.sinkNode = undefined;
    return sink?.end() ?? undefined;
  }

  /** Holds the splitter's output until `pending` settles (an attached message's walker is behind). */
  private pauseFor(pending: void | Promise<void> | undefined): void {
    if (!pending) return;
    this.splitter.pause();
    pending
      .catch(() => this.scan.fail('parser-error'))
      .finally(() => {
        if (!this.stopped) this.splitter.resume();
      });
  }
}

const DASHES = Buffer.from('--');

function ancestors(node: MimeNode): number {
  let count = 0;
  for (let parent = node.parentNode; parent; parent = parent.parentNode) count++;
  return count;
}

function splitterFailure(error: Error & { code?: string }): string {
  if (error.code === 'EMAXLEN') return /header/i.test(error.message) ? 'part-header-too-long' : 'too-many-parts';
  return 'parser-error';
}

/** A file: its decoded size counted, its content dropped. */
class CountingSink implements PartSink {
  constructor(
    private readonly decoder: TransferDecoder,
    private readonly attachment: CountingAttachment,
    private readonly scan: ScanState,
  ) {}

  write(body: Buffer): void {
    this.decoder.write(body);
    this.attachment.size = this.decoder.size;
  }

  end(): void {
    this.decoder.end();
    this.attachment.size = this.decoder.size;
    if (this.decoder.problem) this.scan.noteProblem(this.decoder.problem);
  }

  destroy(): void {}
}

/** A text part of the message (not a file): decoded into the text collector while it has room. */
class TextPartSink implements PartSink {
  constructor(
    private readonly decoder: TransferDecoder,
    private readonly text: TextSink,
    private readonly scan: ScanState,
  ) {}

  write(body: Buffer): void {
    if (!this.scan.text.isFull) this.text.write(this.decoder.write(body));
  }

  end(): void {
    if (!this.scan.text.isFull) this.text.write(this.decoder.end());
    this.text.end();
    if (this.decoder.problem) this.scan.noteProblem(this.decoder.problem);
  }

  destroy(): void {}
}

/** An attached message: counted as an attachment and read by a walker of its own, one level down. */
class AttachedMessageSink implements PartSink {
  constructor(
    private readonly decoder: TransferDecoder,
    private readonly attachment: CountingAttachment,
    private readonly child: MimeWalker,
    private readonly scan: ScanState,
  ) {}

  write(body: Buffer): void | Promise<void> {
    const decoded = this.decoder.write(body);
    this.attachment.size = this.decoder.size;
    return decoded.length > 0 ? this.child.write(decoded) : undefined;
  }

  async end(): Promise<void> {
    const rest = this.decoder.end();
    this.attachment.size = this.decoder.size;
    if (this.decoder.problem) this.scan.noteProblem(this.decoder.problem);
    if (rest.length > 0) await this.child.write(rest);
    await this.child.end();
  }

  destroy(): void {
    this.child.destroy();
  }
}
