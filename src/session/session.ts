// One MTA connection's protocol state: negotiates, tracks envelope and macros, asks the handler, answers.
import type { MilterCommand } from '../milter/commands';
import type { MacroPairs } from '../milter/macro-pairs';
import { Action, Cmd, Proto } from '../milter/constants';
import { MilterProtocolError, ReplyEncodingError } from '../milter/errors';
import { expectsReply, negotiate, type EventStage, type Negotiated, type Transport } from '../milter/negotiation';
import { encodeReply, type MilterReply, type Modification } from '../milter/replies';
import { andThen, type MaybePromise } from '../maybe-promise';
import { CONTINUE, type BodyVerdict, type ConnectInfo, type Decision, type EomResult, type MessageState, type MilterHandler, type SessionContext, type Verdict } from './handler';
import { MacroStore } from './macros';

export type DecisionStage = EventStage | 'eom';
/** Where a handler error happened: a deciding stage or one of the clean-up callbacks. */
export type HandlerStage = DecisionStage | 'abort' | 'close';

export interface SessionObserver {
  /** The MTA's offer and our answer, once per connection (what an operator debugging an MTA needs). */
  negotiated?(ctx: SessionContext, offer: { version: number; actions: number; protocol: number }, answer: Negotiated): void;
  /**
   * Every event decided, with the delay applied before its answer (0 when none); `answered` false
   * for an event negotiated without a reply (the MTA did not wait, nothing was sent).
   */
  decision(ctx: SessionContext, stage: DecisionStage, verdict: Decision | { kind: 'skip' }, delayMs: number, answered: boolean): void;
  /** A handler threw or returned something unusable; `fallback` was sent instead. */
  handlerError(ctx: SessionContext, stage: HandlerStage, error: unknown, fallback: Decision): void;
}

export interface SessionOptions {
  transport: Transport;
  /** TCP: the connection acknowledges at once every read it will not answer (TCP_QUICKACK), so no-reply flags are safe. */
  unansweredAcked?: boolean;
  /** Sent when a handler throws or returns a verdict that cannot be encoded. */
  failDecision: Decision;
  /** Longest tarpit; longer delays are cut to this (MTAs give up waiting: Postfix 30 s, Sendmail often 10 s). */
  maxDelayMs: number;
  /** Interval of keep-alive `progress` packets during a delay, where the MTA accepts them. */
  progressIntervalMs: number;
  observer?: SessionObserver;
}

/** The SMFIF_* action each modification needs; MTAs apply unnegotiated ones but log the milter as lying. */
const REQUIRED_ACTION: Record<Modification['kind'], number> = {
  addHeader: Action.ADDHDRS,
  insertHeader: Action.ADDHDRS,
  changeHeader: Action.CHGHDRS,
  addRecipient: Action.ADDRCPT,
  deleteRecipient: Action.DELRCPT,
  changeSender: Action.CHGFROM,
  replaceBody: Action.CHGBODY,
  quarantine: Action.QUARANTINE,
};

export class MilterSession implements SessionContext {
  readonly macros = new MacroStore();
  connect: ConnectInfo | undefined;
  connectedAt: number | undefined;
  helo: string | undefined;
  message: MessageState | undefined;
  mta: SessionContext['mta'] = 'unknown';
  private negotiated: Negotiated | undefined;
  private messageCount = 0;
  private closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    readonly connectionId: string,
    private readonly handler: MilterHandler,
    private readonly send: (bytes: Buffer) => void,
    private readonly options: SessionOptions,
  ) {}

  macro(name: string): string | undefined {
    return this.macros.get(name);
  }

  /**
   * Handles one command. Returns once its answer (if any) has been written; a promise only when that
   * has to wait (a handler that waits for the store or DNS, a tarpit): the usual event is answered
   * in the turn it arrived.
   */
  receive(cmd: MilterCommand): Pending {
    if (!this.negotiated && cmd.kind !== 'optneg') {
      throw new MilterProtocolError('FG_ERR_COMMAND', `${cmd.kind} before option negotiation`);
    }
    switch (cmd.kind) {
      case 'optneg':
        return this.onOptneg(cmd);
      case 'macro':
        this.macros.set(cmd.forCommand, cmd.macros);
        if (cmd.forCommand === Cmd.CONNECT) this.mta = detectMta(cmd.macros) ?? this.mta;
        return;
      case 'connect':
        this.connect = { hostname: cmd.hostname, family: cmd.family, address: cmd.address, port: cmd.port };
        this.connectedAt = Date.now();
        this.helo = undefined;
        this.message = undefined;
        return this.decide('connect', () => this.handler.connect?.(this));
      case 'helo':
        // A repeated HELO (after STARTTLS or RSET) ends any open message.
        return andThen(this.endMessage(), () => {
          this.helo = cmd.name;
          return this.decide('helo', () => this.handler.helo?.(this, cmd.name));
        });
      case 'mail':
        return andThen(this.endMessage(), () => {
          this.message = { index: ++this.messageCount, sender: cmd.sender, senderArgs: cmd.args, recipients: [], headerCount: 0, bodyBytes: 0 };
          return this.decide('mail', () => this.handler.mail?.(this, cmd.sender, cmd.args));
        });
      case 'rcpt':
        return this.decide('rcpt', () => this.handler.rcpt?.(this, cmd.recipient, cmd.args), (decision) => {
          // With RCPT_REJ the MTA also shows recipients it refused itself ({rcpt_mailer} = error).
          const refusedByMta = this.macros.get('{rcpt_mailer}') === 'error';
          if (this.message && !refusedByMta && (decision.kind === 'continue' || decision.kind === 'accept')) this.message.recipients.push(cmd.recipient);
        });
      case 'data':
        return this.decide('data', () => this.handler.data?.(this));
      case 'header':
        if (this.message) this.message.headerCount++;
        return this.decide('header', () => this.handler.header?.(this, cmd.name, cmd.value));
      case 'eoh':
        return this.decide('eoh', () => this.handler.eoh?.(this));
      case 'body':
        if (this.message) this.message.bodyBytes += cmd.chunk.length;
        return this.decide('body', () => this.handler.body?.(this, cmd.chunk));
      case 'eom':
        if (this.message) this.message.bodyBytes += cmd.chunk.length;
        return this.onEom();
      case 'unknown':
        return this.decide('unknown', () => this.handler.unknown?.(this, cmd.line));
      case 'abort':
        // Postfix sends ABORT after every transaction, sometimes twice: it must be idempotent.
        return this.endMessage();
      case 'quitNewConnection':
        // The MTA keeps this socket for a new SMTP session: reset everything but the negotiation.
        return andThen(this.endConnection(), () => {
          this.macros.resetAll();
          this.connect = undefined;
          this.connectedAt = undefined;
          this.helo = undefined;
        });
      case 'quit':
        return this.endConnection();
    }
  }

  /**
   * Whether this command gets an answer from us (false for macros, ABORT, QUIT and commands the
   * negotiated no-reply flags cover; undefined: no whole command). The connection adapter uses it
   * to ACK at once what the MTA will otherwise wait on (TCP_QUICKACK).
   */
  answers(cmd: MilterCommand | undefined): boolean {
    if (cmd === undefined) return false;
    switch (cmd.kind) {
      case 'macro':
      case 'abort':
      case 'quit':
      case 'quitNewConnection':
        return false;
      case 'optneg':
      case 'eom':
        return true;
      default:
        return this.negotiated === undefined || expectsReply(this.negotiated, cmd.kind);
    }
  }

  /** Waiting out a tarpit delay (only delays set timers). */
  get delaying(): boolean {
    return this.timers.size > 0;
  }

  /** Called by the connection adapter when the socket is gone: cancels tarpits, runs cleanup once. */
  async dispose(): Promise<void> {
    if (this.closed) return;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.endConnection();
  }

  private onOptneg(cmd: Extract<MilterCommand, { kind: 'optneg' }>): void {
    if (this.negotiated) throw new MilterProtocolError('FG_ERR_COMMAND', 'second option negotiation on one connection');
    this.negotiated = negotiate(cmd, this.handler.needs(), this.options.transport, this.options.unansweredAcked === true);
    this.send(encodeReply({ kind: 'negotiate', ...this.negotiated }));
    this.options.observer?.negotiated?.(this, { version: cmd.version, actions: cmd.actions, protocol: cmd.protocol }, this.negotiated);
  }

  private decide(stage: EventStage, call: () => MaybeVerdict, after?: (decision: Decision) => void): Pending {
    let verdict: MaybeVerdict;
    try {
      verdict = call();
    } catch (error) {
      return this.decided(stage, this.fallback(stage, error), after);
    }
    if (!(verdict instanceof Promise)) return this.decided(stage, verdict, after);
    return verdict.then(
      (v) => this.decided(stage, v, after),
      (error: unknown) => this.decided(stage, this.fallback(stage, error), after),
    );
  }

  /** Answers a stage with the handler's verdict, after its delay when it is a tarpit. */
  private decided(stage: EventStage, given: Verdict | BodyVerdict | undefined, after: ((decision: Decision) => void) | undefined): Pending {
    const verdict = given ?? CONTINUE;
    const replyExpected = expectsReply(this.negotiated!, stage);
    if (verdict.kind === 'delay') {
      return this.wait(verdict.seconds, replyExpected && this.mta === 'postfix').then((delayMs) => this.conclude(stage, verdict.then, delayMs, replyExpected, after));
    }
    this.conclude(stage, verdict, 0, replyExpected, after);
  }

  private conclude(stage: EventStage, decision: Decision | { kind: 'skip' }, delayMs: number, replyExpected: boolean, after: ((decision: Decision) => void) | undefined): void {
    if (this.closed) return;
    after?.(decision.kind === 'skip' ? CONTINUE : decision);
    this.macros.clearTransient();
    if (!replyExpected) {
      this.options.observer?.decision(this, stage, decision, delayMs, false);
      return;
    }
    const sent = this.answer(stage, decision);
    this.options.observer?.decision(this, stage, sent, delayMs, true);
  }

  private async onEom(): Promise<void> {
    let result: EomResult;
    try {
      result = (await this.handler.eom?.(this)) ?? { verdict: { kind: 'continue' } };
    } catch (error) {
      result = { verdict: this.fallback('eom', error) };
    }
    const { verdict } = result;
    // Progress is accepted by both MTAs while they wait for the end-of-message answer.
    const delayMs = verdict.kind === 'delay' ? await this.wait(verdict.seconds, true) : 0;
    if (this.closed) return;
    for (const mod of result.modifications ?? []) this.sendModification(mod);
    const sent = this.answer('eom', verdict.kind === 'delay' ? verdict.then : verdict);
    this.options.observer?.decision(this, 'eom', sent, delayMs, true);
    this.message = undefined;
    this.macros.resetMessage();
  }

  /** Encodes and sends the decision; a reply the MTA could not parse is replaced by the fail decision. */
  private answer(stage: DecisionStage, decision: Decision | { kind: 'skip' }): Decision | { kind: 'skip' } {
    if (decision.kind === 'skip' && (this.negotiated!.protocol & Proto.SKIP) === 0) decision = { kind: 'continue' };
    if (decision.kind === 'discard' && (stage === 'connect' || stage === 'helo')) decision = { kind: 'continue' };
    try {
      this.send(encodeReply(toReply(decision)));
      return decision;
    } catch (error) {
      const fallback = this.fallback(stage, error);
      this.send(encodeReply(toReply(fallback)));
      return fallback;
    }
  }

  private sendModification(mod: Modification): void {
    const needed = REQUIRED_ACTION[mod.kind];
    if ((this.negotiated!.actions & needed) === 0) {
      this.options.observer?.handlerError(this, 'eom', new ReplyEncodingError(`${mod.kind} was not negotiated`), { kind: 'continue' });
      return;
    }
    try {
      this.send(encodeReply(mod));
    } catch (error) {
      this.options.observer?.handlerError(this, 'eom', error, { kind: 'continue' });
    }
  }

  private fallback(stage: DecisionStage, error: unknown): Decision {
    const decision = this.options.failDecision;
    this.options.observer?.handlerError(this, stage, error, decision);
    return decision;
  }

  /** A non-blocking tarpit, with keep-alive progress packets where the MTA allows them. */
  private wait(seconds: number, progressAllowed: boolean): Promise<number> {
    const ms = Math.max(0, Math.min(seconds * 1000, this.options.maxDelayMs));
    // Measured on the monotonic clock: a wall clock stepped during the delay (NTP, an operator) would
    // otherwise report it as an hour negative or a day long in the log and the tarpit histogram.
    const started = performance.now();
    return new Promise((resolve) => {
      const finish = setTimeout(() => {
        this.timers.delete(finish);
        if (keepAlive) {
          clearInterval(keepAlive);
          this.timers.delete(keepAlive);
        }
        resolve(Math.round(performance.now() - started));
      }, ms);
      this.timers.add(finish);
      let keepAlive: NodeJS.Timeout | undefined;
      if (progressAllowed && ms > this.options.progressIntervalMs) {
        keepAlive = setInterval(() => this.send(encodeReply({ kind: 'progress' })), this.options.progressIntervalMs);
        this.timers.add(keepAlive);
      }
    });
  }

  /** Ends an open message: the handler's abort still sees it (as libmilter's xxfi_abort does), then it is gone. */
  private endMessage(): Pending {
    if (!this.message) return;
    return andThen(this.safely('abort', () => this.handler.abort?.(this)), () => {
      this.macros.resetMessage();
      this.message = undefined;
    });
  }

  private endConnection(): Pending {
    return andThen(this.endMessage(), () => {
      if (this.closed) return;
      this.closed = true;
      return this.safely('close', () => this.handler.close?.(this));
    });
  }

  /** Runs a clean-up callback; its failure is reported, never thrown. */
  private safely(stage: HandlerStage, call: () => unknown): Pending {
    const reportError = (error: unknown): void => this.options.observer?.handlerError(this, stage, error, CONTINUE);
    let result: unknown;
    try {
      result = call();
    } catch (error) {
      reportError(error);
      return;
    }
    if (result instanceof Promise) return result.then(() => undefined, reportError);
  }
}

/** Done now (undefined), or a promise of done when a step has to wait. */
export type Pending = MaybePromise<void>;

type MaybeVerdict = Verdict | BodyVerdict | undefined | Promise<Verdict | BodyVerdict | undefined>;

function toReply(decision: Decision | { kind: 'skip' }): MilterReply {
  if ((decision.kind === 'reject' || decision.kind === 'tempfail') && decision.reply) {
    const expectedClass = decision.kind === 'reject' ? '5' : '4';
    // libmilter sends a custom text only when its class matches the decision; so do we, loudly.
    if (decision.reply.code[0] !== expectedClass) {
      throw new ReplyEncodingError(`${decision.kind} with reply code ${decision.reply.code}`);
    }
    return { kind: 'replycode', reply: decision.reply };
  }
  return { kind: decision.kind } as MilterReply;
}

/** Postfix names itself in macro `v` ("Postfix 3.7.11"); Sendmail sends no `v` by default. */
function detectMta(macros: MacroPairs): SessionContext['mta'] | undefined {
  const v = macros.get('v');
  if (v === undefined) return macros.get('j') !== undefined ? 'sendmail' : undefined;
  return /^postfix/i.test(v) ? 'postfix' : /sendmail/i.test(v) ? 'sendmail' : 'unknown';
}
