// Tracking copies of whole messages: which `track:` entries a message may match (from its envelope,
// at its first header), its bytes streamed to a copy meanwhile, and at its end kept in the folders
// of the entries it matched (their `rules:` then known) or deleted.
import type { Rule, TrackRule } from '../rules/rule-set';
import type { MessageState, SessionContext } from '../session/handler';
import type { CopyStore, MessageCopy } from '../tracking/copy-store';
import { factsFor } from './facts';
import { headerLine } from '../content/header-field';

interface CopyInProgress {
  copy: MessageCopy;
  /** Entries whose envelope condition held; their `rules:` are checked at the end. */
  candidates: readonly TrackRule[];
}

/** Messages no entry can match: remembered so that the check runs once per message. */
const NOT_COPIED = 'not copied';

export class MessageCopies {
  private readonly inProgress = new WeakMap<Readonly<MessageState>, CopyInProgress | typeof NOT_COPIED>();
  /** Rules that fired, per session (connect, helo) and per message (from mail on). */
  private readonly fired = new WeakMap<object, Set<string>>();
  private readonly readsFiredRules: boolean;

  constructor(
    private readonly track: readonly TrackRule[],
    private readonly store: CopyStore,
  ) {
    this.readsFiredRules = track.some((t) => t.rules !== undefined);
  }

  ruleFired(ctx: SessionContext, rules: readonly Rule[]): void {
    if (!this.readsFiredRules || rules.length === 0) return;
    const owner: object = ctx.message ?? ctx;
    let set = this.fired.get(owner);
    if (!set) this.fired.set(owner, (set = new Set()));
    for (const rule of rules) set.add(rule.name);
  }

  header(ctx: SessionContext, name: string, value: string): void {
    const copy = this.copyOf(ctx, true);
    // As the MTA will write it; a bare line end inside a value cannot start a field of its own.
    copy?.write(Buffer.from(headerLine(name, value, Infinity), 'utf8'));
  }

  endOfHeaders(ctx: SessionContext): void {
    this.copyOf(ctx, true)?.write(Buffer.from('\r\n'));
  }

  body(ctx: SessionContext, chunk: Buffer): void | Promise<void> {
    return this.copyOf(ctx, false)?.write(chunk);
  }

  /** End of message: kept under the matching entries' folders (a refused message is copied too: it is evidence). */
  async messageEnded(ctx: SessionContext, now: number): Promise<void> {
    const message = ctx.message;
    const entry = message && this.inProgress.get(message);
    if (!message || !entry || entry === NOT_COPIED) return;
    this.inProgress.delete(message);
    const fired = new Set([...(this.fired.get(ctx) ?? []), ...(this.fired.get(message) ?? [])]);
    const matched = entry.candidates.filter((t) => t.rules === undefined || [...t.rules].some((r) => fired.has(r)));
    if (matched.length === 0) return entry.copy.discard();
    await entry.copy.keep(matched.map((t) => t.name), fileName(ctx, now));
  }

  messageAborted(ctx: SessionContext): void {
    const entry = ctx.message && this.inProgress.get(ctx.message);
    if (!ctx.message || !entry || entry === NOT_COPIED) return;
    this.inProgress.delete(ctx.message);
    void entry.copy.discard();
  }

  /** The message's copy; decided at its first header from the envelope (client, sender, each recipient). */
  private copyOf(ctx: SessionContext, mayStart: boolean): MessageCopy | undefined {
    const message = ctx.message;
    if (!message) return undefined;
    const entry = this.inProgress.get(message);
    if (entry !== undefined) return entry === NOT_COPIED ? undefined : entry.copy;
    if (!mayStart) return undefined;
    const recipients = message.recipients.length > 0 ? message.recipients : [undefined];
    const candidates = this.track.filter((t) => recipients.some((recipient) => t.condition(factsFor(ctx, 'rcpt', recipient === undefined ? {} : { recipient }))));
    if (candidates.length === 0) {
      this.inProgress.set(message, NOT_COPIED);
      return undefined;
    }
    const copy = this.store.begin();
    this.inProgress.set(message, { copy, candidates });
    return copy;
  }
}

/** 20261205T140233Z-4Xy1Z2abcD: sortable by time, named by the MTA's queue id (or the session's id). */
function fileName(ctx: SessionContext, now: number): string {
  const stamp = new Date(now).toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
  const id = (ctx.macro('i') ?? ctx.connectionId).replace(/[^A-Za-z0-9]/g, '');
  return `${stamp}-${id || 'message'}`;
}
