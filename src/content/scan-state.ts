// What one message's scan has found so far, shared by the walkers of the message and of its attached messages.
import type { AttachmentInfo } from './message-content';
import type { ScanLimits } from './scan-limits';
import { TextCollector } from './text-collector';

/** Distinct problems kept: enough for a log line, bounded against a message made of oddities. */
const MAX_PROBLEMS = 32;

/** An attachment whose size is still being counted. */
export interface CountingAttachment extends AttachmentInfo {
  size: number;
}

export class ScanState {
  readonly attachments: CountingAttachment[] = [];
  readonly text: TextCollector;
  /** MIME parts seen so far, at every depth. */
  parts = 0;
  private readonly problemSet = new Set<string>();
  private failure: string | undefined;
  private readonly failListeners: (() => void)[] = [];

  constructor(readonly limits: ScanLimits) {
    this.text = new TextCollector(limits.maxScanBytes, limits.maxTextInputBytes, (problem) => this.noteProblem(problem));
  }

  get problems(): string[] {
    return [...this.problemSet];
  }

  /** The reason the structure could not be followed, once it could not. */
  get unparseable(): string | undefined {
    return this.failure;
  }

  noteProblem(problem: string): void {
    if (this.problemSet.size < MAX_PROBLEMS) this.problemSet.add(problem);
  }

  /** Gives up on the structure: the first reason stands, every walker is told to stop. */
  fail(reason: string): void {
    if (this.failure !== undefined) return;
    this.failure = reason;
    this.noteProblem(reason);
    for (const listener of this.failListeners.splice(0)) listener();
  }

  onFail(listener: () => void): void {
    if (this.failure !== undefined) listener();
    else this.failListeners.push(listener);
  }
}
