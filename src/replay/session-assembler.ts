// Rebuilds SMTP sessions from mail events and hands them on in the order they began, each once it
// is complete: the connection ended and every message's recipients are known (delivered or
// refused), or nothing was heard of it for a while.
import type { MailEvent, ReplayMessage, ReplaySession } from './mail-events';

/**
 * A session with no line for this long (log time) is handed on as it is: a message deferred for
 * days must not hold every later session in memory. Its later delivery lines are then counted as
 * `late_delivery` and not used.
 */
export const SESSION_WINDOW_MS = 15 * 60_000;
/** Sendmail at LogLevel 9 logs no disconnect: a session idle this long with its messages complete has ended. */
const IDLE_END_MS = 60_000;

interface OpenMessage {
  message: ReplayMessage;
  owner: OpenSession;
  /** Recipients the MTA said it accepted (Postfix nrcpt=, Sendmail nrcpts=). */
  expected?: number;
  delivered: Set<string>;
  done: boolean;
}

interface OpenSession {
  session: ReplaySession;
  key: string;
  lastSeen: number;
  disconnected: boolean;
  messages: OpenMessage[];
}

export interface AssemblerCounts {
  /** Lines about messages that never passed an SMTP session here (pickup, local submission). */
  not_smtp: number;
  late_delivery: number;
  /** Sessions handed on before they were complete (see SESSION_WINDOW_MS). */
  incomplete_sessions: number;
}

export class SessionAssembler {
  /** In the order the sessions began (a Map keeps insertion order). */
  private readonly open = new Set<OpenSession>();
  private readonly byKey = new Map<string, OpenSession>();
  private readonly byQueueId = new Map<string, OpenMessage>();
  readonly counts: AssemblerCounts = { not_smtp: 0, late_delivery: 0, incomplete_sessions: 0 };

  constructor(private readonly emit: (session: ReplaySession) => void) {}

  /** Sessions being assembled: what the memory of a replay grows with. */
  get openSessions(): number {
    return this.open.size;
  }

  add(event: MailEvent, time: number): void {
    switch (event.kind) {
      case 'connect': {
        const previous = this.byKey.get(event.session);
        if (previous) previous.disconnected = true;
        this.start(event.session, time, event);
        break;
      }
      case 'client': {
        const owner = this.sessionFor(event.session, time);
        // After XCLIENT the client is the one XCLIENT named, not the one that connected.
        if (event.clientIp) setClient(owner.session, event);
        if (event.authUser) owner.session.authUser = event.authUser;
        this.message(owner, time, event.queueId);
        break;
      }
      case 'refused':
        this.refused(event, time);
        break;
      case 'sender':
        this.sender(event, time);
        break;
      case 'delivery': {
        const open = this.byQueueId.get(event.queueId);
        if (!open) {
          this.counts.late_delivery += 1;
          break;
        }
        for (const address of event.recipients) {
          if (open.delivered.has(address)) continue; // a deferred recipient is logged at each try
          open.delivered.add(address);
          open.message.recipients.push({ address, time: open.message.time, rejectedByMta: false });
        }
        if (open.expected !== undefined && open.delivered.size >= open.expected) open.done = true;
        open.owner.lastSeen = time;
        break;
      }
      case 'removed': {
        const open = this.byQueueId.get(event.queueId);
        if (open) open.done = true;
        break;
      }
      case 'disconnect': {
        const owner = this.byKey.get(event.session);
        if (owner) {
          owner.disconnected = true;
          owner.lastSeen = time;
          this.byKey.delete(event.session);
        }
        break;
      }
    }
    this.release(time);
  }

  /** End of input: every session still open, in order. */
  finish(): void {
    for (const open of this.open) this.hand(open, !this.complete(open, Infinity));
  }

  private refused(event: Extract<MailEvent, { kind: 'refused' }>, time: number): void {
    const owner = this.sessionFor(event.session, time);
    const session = owner.session;
    // The client a refusal names is the current one: after XCLIENT no longer the one that connected.
    if (event.clientIp) setClient(session, event);
    if (event.helo !== undefined) session.helo = event.helo;
    if (event.stage === 'connect' || event.stage === 'helo') {
      session.refusedAt = event.stage;
      return;
    }
    if (event.stage !== 'rcpt' && (event.stage !== 'mail' || event.byMta)) return;
    // Postfix opens the queue file at the first accepted RCPT: refusals before it are NOQUEUE.
    const open = (event.queueId && this.byQueueId.get(event.queueId)) || this.transaction(owner, event.sender) || this.message(owner, time, event.queueId);
    if (event.sender !== undefined) open.message.sender = event.sender;
    if (event.stage === 'rcpt' && event.recipient !== undefined) open.message.recipients.push({ address: event.recipient, time, rejectedByMta: event.byMta });
  }

  /** The NOQUEUE transaction in progress: the session's last message, if it has no queue id yet and the same sender. */
  private transaction(owner: OpenSession, sender: string | undefined): OpenMessage | undefined {
    const last = owner.messages[owner.messages.length - 1];
    return last && last.message.queueId === undefined && last.message.sender === sender ? last : undefined;
  }

  private sender(event: Extract<MailEvent, { kind: 'sender' }>, time: number): void {
    let open = this.byQueueId.get(event.queueId);
    if (!open && event.session) open = this.message(this.sessionFor(event.session, time), time, event.queueId);
    if (!open) {
      this.counts.not_smtp += 1;
      return;
    }
    const { message, owner } = open;
    message.sender = event.sender;
    if (event.size !== undefined) message.size = event.size;
    if (event.recipients !== undefined) open.expected = event.recipients;
    if (event.clientIp) setClient(owner.session, event);
    // Recipients refused before the queue file existed belong to this message: same sender, just before it.
    const index = owner.messages.indexOf(open);
    const before = owner.messages[index - 1];
    if (before && before.message.queueId === undefined && before.message.sender === event.sender && before.message.recipients.every((r) => r.rejectedByMta || r.time <= message.time)) {
      message.recipients.unshift(...before.message.recipients);
      message.time = Math.min(message.time, before.message.time);
      owner.messages.splice(index - 1, 1);
      owner.session.messages.splice(owner.session.messages.indexOf(before.message), 1);
    }
    if (open.expected !== undefined && open.delivered.size >= open.expected) open.done = true;
    owner.lastSeen = time;
  }

  private start(key: string, time: number, client: { clientIp?: string; clientName?: string }): OpenSession {
    const session: ReplaySession = { time, messages: [], ...(client.clientIp ? { clientIp: client.clientIp } : {}), ...(client.clientName ? { clientName: client.clientName } : {}) };
    const open: OpenSession = { session, key, lastSeen: time, disconnected: false, messages: [] };
    this.open.add(open);
    this.byKey.set(key, open);
    return open;
  }

  private sessionFor(key: string, time: number): OpenSession {
    const open = this.byKey.get(key);
    if (open) {
      open.lastSeen = time;
      return open;
    }
    return this.start(key, time, {});
  }

  private message(owner: OpenSession, time: number, queueId: string | undefined): OpenMessage {
    const message: ReplayMessage = { time, recipients: [], ...(queueId ? { queueId } : {}) };
    // A message refused before its queue file has nothing more to wait for.
    const open: OpenMessage = { message, owner, delivered: new Set(), done: queueId === undefined };
    owner.session.messages.push(message);
    owner.messages.push(open);
    if (queueId) this.byQueueId.set(queueId, open);
    return open;
  }

  private complete(open: OpenSession, now: number): boolean {
    const ended = open.disconnected || now - open.lastSeen > IDLE_END_MS;
    return ended && open.messages.every((m) => m.done);
  }

  /** Hands on, oldest first, every session that is complete or past the window; stops at the first that is neither. */
  private release(now: number): void {
    for (const open of this.open) {
      const expired = now - open.lastSeen > SESSION_WINDOW_MS;
      if (!expired && !this.complete(open, now)) return;
      this.hand(open, expired && !this.complete(open, now));
    }
  }

  private hand(open: OpenSession, incomplete: boolean): void {
    this.open.delete(open);
    if (this.byKey.get(open.key) === open) this.byKey.delete(open.key);
    for (const m of open.messages) if (m.message.queueId && this.byQueueId.get(m.message.queueId) === m) this.byQueueId.delete(m.message.queueId);
    if (incomplete) this.counts.incomplete_sessions += 1;
    this.emit(open.session);
  }
}

function setClient(session: ReplaySession, client: { clientIp?: string; clientName?: string }): void {
  session.clientIp = client.clientIp;
  if (client.clientName) session.clientName = client.clientName;
  else delete session.clientName;
}
