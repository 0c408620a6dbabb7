// One message while it arrives: its header fields and body fed to the scanner, and what the
// content rules decided at its header stage, until its end of message or its abort.
import type { MessageContent } from '../content/message-content';
import { MessageScanner, type ScanLimits } from '../content/message-scanner';
import type { MessageMarks, MessageNeeds } from '../rules/rule-set';

export class OpenMessage {
  private readonly scanner: MessageScanner;
  private firstSubject: string | undefined;
  private ended = false;
  /** Marks of rules that matched at the header stage, applied at end of message with the others. */
  readonly marks: MessageMarks[] = [];

  constructor(
    private readonly needs: MessageNeeds,
    limits: Partial<ScanLimits>,
  ) {
    this.scanner = new MessageScanner(limits);
  }

  header(name: string, value: string): void {
    if (this.firstSubject === undefined && name.toLowerCase() === 'subject') this.firstSubject = value;
    this.scanner.header(name, value);
  }

  /** The header block is complete: what the header-stage rules read (fields only). */
  endOfHeaders(): MessageContent {
    this.scanner.endOfHeaders();
    return this.scanner.headerContent();
  }

  body(chunk: Buffer): void | Promise<void> {
    if (this.needs.parseBody) return this.scanner.body(chunk);
  }

  /** Everything the scanner found; never rejects (the scanner reports failure as `unparseable`). */
  async finish(): Promise<MessageContent> {
    this.ended = true;
    return this.scanner.finish();
  }

  /** The first Subject field as sent: the subject prefix changes this one. */
  get rawSubject(): string | undefined {
    return this.firstSubject;
  }

  /** The message ended without its end (abort, RSET, the client left): the scanner's state is freed. */
  dispose(): void {
    if (!this.ended) this.scanner.dispose();
    this.ended = true;
  }
}
