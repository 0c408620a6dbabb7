// The test handler the integration and end-to-end suites share: fixed verdicts for marked addresses.
import { Action } from '../../src/milter/constants';
import type { EventStage } from '../../src/milter/negotiation';
import type { MilterHandler, SessionContext } from '../../src/session/handler';

export const MARKED = {
  /** RCPT TO this address is refused with a custom 550. */
  rejectedRecipient: 'blocked@example.com',
  rejectText: 'Recipient blocked by floodgate test',
  /** MAIL FROM this address is refused with a custom 451. */
  tempfailedSender: 'slow@example.net',
  tempfailText: 'Sender throttled, try later',
  /** A client from this address waits 3 s at CONNECT. */
  delayedClient: '192.0.2.33',
  delaySeconds: 3,
  /** Added at end of message to every accepted message. */
  header: { name: 'X-Floodgate-Test', value: 'passed' },
} as const;

export interface RecordedEvent {
  conn: string;
  stage: string;
  detail?: string;
}

/**
 * Builds the handler; `events` records every callback so tests can check what the MTA sent.
 * `delayedClient` overrides MARKED.delayedClient (Sendmail has no XCLIENT: its client is 127.0.0.1).
 */
export function verdictHandler(events: RecordedEvent[] = [], delaySeconds: number = MARKED.delaySeconds, delayedClient: string = MARKED.delayedClient): MilterHandler {
  const record = (ctx: SessionContext, stage: string, detail?: string) => events.push({ conn: ctx.connectionId, stage, ...(detail === undefined ? {} : { detail }) });
  const stages: EventStage[] = ['connect', 'helo', 'mail', 'rcpt', 'data'];
  return {
    needs: () => ({ stages: new Set(stages), actions: Action.ADDHDRS }),
    connect(ctx) {
      record(ctx, 'connect', `${ctx.connect?.hostname} ${ctx.connect?.address} v=${ctx.macro('v') ?? ''} j=${ctx.macro('j') ?? ''}`);
      if (ctx.connect?.address === delayedClient) return { kind: 'delay', seconds: delaySeconds, then: { kind: 'continue' } };
      return { kind: 'continue' };
    },
    helo(ctx, name) {
      record(ctx, 'helo', name);
      return { kind: 'continue' };
    },
    mail(ctx, sender) {
      record(ctx, 'mail', sender);
      if (sender.replace(/[<>]/g, '').toLowerCase() === MARKED.tempfailedSender) {
        return { kind: 'tempfail', reply: { code: '451', ext: '4.7.1', text: MARKED.tempfailText } };
      }
      return { kind: 'continue' };
    },
    rcpt(ctx, recipient) {
      record(ctx, 'rcpt', recipient);
      if (recipient.replace(/[<>]/g, '').toLowerCase() === MARKED.rejectedRecipient) {
        return { kind: 'reject', reply: { code: '550', ext: '5.7.1', text: MARKED.rejectText } };
      }
      return { kind: 'continue' };
    },
    data(ctx) {
      record(ctx, 'data');
      return { kind: 'continue' };
    },
    eom(ctx) {
      record(ctx, 'eom', `${ctx.message?.recipients.join(',')}`);
      return { verdict: { kind: 'continue' }, modifications: [{ kind: 'addHeader', name: MARKED.header.name, value: MARKED.header.value }] };
    },
    abort(ctx) {
      record(ctx, 'abort');
    },
    close(ctx) {
      record(ctx, 'close');
    },
  };
}
