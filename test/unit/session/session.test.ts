// MilterSession on its own: decoded commands in, the exact reply bytes out, with jest's fake clock and timers.
//
// Expected bytes are written out in hex from the protocol reference (length, command byte, data), not
// made with src/milter's encoder, so a wrong encoder cannot agree with itself.
import { decodeCommand, type MilterCommand } from '../../../src/milter/commands';
import type { EventStage, MilterNeeds } from '../../../src/milter/negotiation';
import type { Decision, MilterHandler, SessionContext } from '../../../src/session/handler';
import { MilterSession, type SessionObserver } from '../../../src/session/session';
import { hex, toHex } from '../../support/frame-builder';

const CONTINUE = '00 00 00 01 63';
const ACCEPT = '00 00 00 01 61';
const TEMPFAIL = '00 00 00 01 74';
const REJECT = '00 00 00 01 72';
const PROGRESS = '00 00 00 01 70';

/** Postfix 3.7's offer: version 6, every action, every protocol bit. */
const OFFER: MilterCommand = { kind: 'optneg', version: 6, actions: 0x1ff, protocol: 0x1fffff };
/** Postfix's CONNECT macros, decoded from a real MACRO packet. */
const POSTFIX_MACROS: MilterCommand = decodeCommand(Buffer.from('DCj\0mx.example.org\0v\0Postfix 3.7.11\0'));
const CONNECT: MilterCommand = { kind: 'connect', hostname: 'pc.example.net', family: 'inet', port: 40000, address: '192.0.2.9' };

function needs(stages: EventStage[], extra: Partial<MilterNeeds> = {}): MilterNeeds {
  return { stages: new Set(stages), actions: 0, ...extra };
}

interface Rig {
  session: MilterSession;
  /** Every packet sent so far, as hex, and forgets them. */
  sent(): string[];
  calls: string[];
  errors: Array<{ stage: string; fallback: Decision }>;
}

function rig(handler: Partial<MilterHandler> & Pick<MilterHandler, 'needs'>, transport: 'tcp' | 'unix' = 'tcp'): Rig {
  let out: string[] = [];
  const calls: string[] = [];
  const errors: Rig['errors'] = [];
  const observer: SessionObserver = {
    decision: () => undefined,
    handlerError: (_ctx, stage, _error, fallback) => errors.push({ stage, fallback }),
  };
  const session = new MilterSession('c1', { ...handler, close: (ctx: SessionContext) => { calls.push(`close ${ctx.connectionId}`); } } as MilterHandler,
    (bytes) => out.push(toHex(bytes)), { transport, failDecision: { kind: 'tempfail' }, maxDelayMs: 25_000, progressIntervalMs: 5_000, observer });
  return {
    session,
    sent: () => {
      const taken = out;
      out = [];
      return taken;
    },
    calls,
    errors,
  };
}

/** OPTNEG, (Postfix's CONNECT macros), CONNECT and, with a sender, MAIL; forgets what they were answered. */
async function openTo(r: Rig, { postfix = false, sender }: { postfix?: boolean; sender?: string } = {}): Promise<void> {
  await r.session.receive(OFFER);
  if (postfix) await r.session.receive(POSTFIX_MACROS);
  await r.session.receive(CONNECT);
  if (sender !== undefined) await r.session.receive({ kind: 'mail', sender, args: [] });
  r.sent();
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

test('OPTNEG: stages nobody handles are negotiated away (not DATA over TCP), RCPT_REJ when asked', async () => {
  const r = rig({ needs: () => needs(['connect', 'helo', 'rcpt'], { rejectedRecipients: true }) });
  await r.session.receive(OFFER);
  // version 6, no actions, NOMAIL|NOBODY|NOHDRS|NOEOH|NOUNKNOWN (0x174) | RCPT_REJ (0x800)
  expect(r.sent()).toEqual([toHex(hex('00 00 00 0d 4f 00 00 00 06 00 00 00 00 00 00 09 74'))]);
});

test('OPTNEG over a unix socket: observe-only stages get no-reply flags, and the session sends nothing for them', async () => {
  const r = rig({ needs: () => needs(['connect', 'helo'], { observeOnly: new Set(['helo']) }), helo: () => ({ kind: 'reject' }) }, 'unix');
  await r.session.receive(OFFER);
  // NOMAIL|NORCPT|NOBODY|NOHDRS|NOEOH|NOUNKNOWN|NODATA (0x37c) | NR_HELO (0x2000)
  expect(r.sent()).toEqual([toHex(hex('00 00 00 0d 4f 00 00 00 06 00 00 00 00 00 00 23 7c'))]);
  await r.session.receive(CONNECT);
  await r.session.receive({ kind: 'helo', name: 'pc' });
  expect(r.sent()).toEqual([CONTINUE]);
});

test('a whole envelope and message: every stage answered, a custom reply, a header added before the final answer', async () => {
  const seen: string[] = [];
  const r = rig({
    needs: () => needs(['connect', 'helo', 'mail', 'rcpt', 'header', 'eoh', 'body'], { actions: 0x01 }),
    connect: (ctx) => (seen.push(`connect ${ctx.connect?.address} ${ctx.mta}`), { kind: 'continue' }),
    helo: (_ctx, name) => (seen.push(`helo ${name}`), { kind: 'continue' }),
    mail: (ctx) => (seen.push(`mail ${ctx.message?.sender}`), { kind: 'continue' }),
    rcpt: (_ctx, rcpt) => (rcpt === '<bad@example.org>' ? { kind: 'reject', reply: { code: '550', ext: '5.1.1', text: 'no such user' } } : { kind: 'continue' }),
    header: (_ctx, name) => (seen.push(`header ${name}`), { kind: 'continue' }),
    body: (_ctx, chunk) => (seen.push(`body ${chunk.length}`), { kind: 'continue' }),
    eom: (ctx) => ({ verdict: { kind: 'accept' }, modifications: [{ kind: 'addHeader', name: 'X-Seen', value: `${ctx.message?.recipients.length}` }] }),
  });
  await r.session.receive(OFFER);
  r.sent();
  for (const cmd of [POSTFIX_MACROS, CONNECT, { kind: 'helo', name: 'pc' }, { kind: 'mail', sender: '<a@example.org>', args: [] },
    { kind: 'rcpt', recipient: '<b@example.org>', args: [] }, { kind: 'rcpt', recipient: '<bad@example.org>', args: [] }, { kind: 'data' },
    { kind: 'header', name: 'Subject', value: 'hi' }, { kind: 'eoh' }, { kind: 'body', chunk: Buffer.from('hello\r\n') }, { kind: 'eom', chunk: Buffer.alloc(0) }] as MilterCommand[]) {
    await r.session.receive(cmd);
  }
  expect(r.sent()).toEqual([
    CONTINUE, CONTINUE, CONTINUE, CONTINUE, // connect, helo, mail, rcpt b
    toHex(hex(`00 00 00 18 79 ${Buffer.from('550 5.1.1 no such user\0').toString('hex')}`)), // rcpt bad: SMFIR_REPLYCODE
    CONTINUE, CONTINUE, CONTINUE, CONTINUE, // data, header, eoh, body
    toHex(hex(`00 00 00 0a 68 ${Buffer.from('X-Seen\0' + '1\0').toString('hex')}`)), // SMFIR_ADDHEADER: one accepted recipient
    ACCEPT,
  ]);
  expect(seen).toEqual(['connect 192.0.2.9 postfix', 'helo pc', 'mail <a@example.org>', 'header Subject', 'body 7']);
});

test('several messages on one connection: each has its own index and recipients; ABORT twice ends it once, and abort sees the message', async () => {
  const aborts: number[] = [];
  const eoms: Array<[number, string[]]> = [];
  const r = rig({
    needs: () => needs(['connect', 'helo', 'mail', 'rcpt']),
    abort: (ctx) => { aborts.push(ctx.message?.index ?? -1); },
    eom: (ctx) => (eoms.push([ctx.message!.index, [...ctx.message!.recipients]]), { verdict: { kind: 'continue' } }),
  });
  await r.session.receive(OFFER);
  await r.session.receive(CONNECT);
  for (const [sender, rcpt] of [['<a@x>', '<1@y>'], ['<b@x>', '<2@y>']]) {
    await r.session.receive({ kind: 'mail', sender: sender!, args: [] });
    await r.session.receive({ kind: 'rcpt', recipient: rcpt!, args: [] });
    await r.session.receive({ kind: 'eom', chunk: Buffer.alloc(0) });
  }
  await r.session.receive({ kind: 'mail', sender: '<c@x>', args: [] });
  await r.session.receive({ kind: 'abort' });
  await r.session.receive({ kind: 'abort' }); // Postfix sends ABORT after a transaction, sometimes twice
  expect(eoms).toEqual([[1, ['<1@y>']], [2, ['<2@y>']]]);
  expect(aborts).toEqual([3]);
  expect(r.errors).toEqual([]);
});

test('a delay at RCPT: progress every 5 s where Postfix waits, then the answer; capped at max_delay', async () => {
  const r = rig({ needs: () => needs(['connect', 'rcpt']), rcpt: () => ({ kind: 'delay', seconds: 60, then: { kind: 'tempfail' } }) });
  await openTo(r, { postfix: true, sender: '<a@x>' });
  const answered = r.session.receive({ kind: 'rcpt', recipient: '<b@y>', args: [] });
  await jest.advanceTimersByTimeAsync(24_999);
  expect(r.sent()).toEqual([PROGRESS, PROGRESS, PROGRESS, PROGRESS]);
  await jest.advanceTimersByTimeAsync(1);
  await answered;
  expect(r.sent()).toEqual([TEMPFAIL]);
});

test('QUIT in the middle of a delay: no answer is written after it, close runs once, dispose is harmless', async () => {
  const r = rig({ needs: () => needs(['connect', 'rcpt']), rcpt: () => ({ kind: 'delay', seconds: 3, then: { kind: 'continue' } }) });
  await openTo(r, { sender: '<a@x>' });
  const pending = r.session.receive({ kind: 'rcpt', recipient: '<b@y>', args: [] });
  await r.session.receive({ kind: 'quit' });
  await jest.advanceTimersByTimeAsync(3_000);
  await pending;
  await r.session.dispose();
  expect(r.sent()).toEqual([]);
  expect(r.calls).toEqual(['close c1']);
});

test('the socket closes in the middle of a delay (dispose): the tarpit and its progress timers are cancelled, nothing is written', async () => {
  const r = rig({ needs: () => needs(['connect', 'rcpt']), rcpt: () => ({ kind: 'delay', seconds: 20, then: { kind: 'continue' } }) });
  await openTo(r, { postfix: true, sender: '<a@x>' });
  void r.session.receive({ kind: 'rcpt', recipient: '<b@y>', args: [] });
  await jest.advanceTimersByTimeAsync(6_000);
  expect(r.sent()).toEqual([PROGRESS]);
  await r.session.dispose();
  expect(jest.getTimerCount()).toBe(0);
  await jest.advanceTimersByTimeAsync(30_000);
  expect(r.sent()).toEqual([]);
  expect(r.calls).toEqual(['close c1']);
});

test('a handler that throws: on_handler_error is answered and reported with its stage', async () => {
  const r = rig({ needs: () => needs(['connect', 'mail']), mail: () => { throw new Error('boom'); } });
  await openTo(r);
  await r.session.receive({ kind: 'mail', sender: '<a@x>', args: [] });
  expect(r.sent()).toEqual([TEMPFAIL]);
  expect(r.errors).toEqual([{ stage: 'mail', fallback: { kind: 'tempfail' } }]);
});

test('a handler that never answers: the command stays unanswered (the MTA\'s own timeout applies) and dispose still closes once', async () => {
  const r = rig({ needs: () => needs(['connect', 'helo']), helo: () => new Promise(() => undefined) });
  await openTo(r);
  void r.session.receive({ kind: 'helo', name: 'pc' });
  await jest.advanceTimersByTimeAsync(600_000);
  expect(r.sent()).toEqual([]);
  await r.session.dispose();
  await r.session.dispose();
  expect(r.calls).toEqual(['close c1']);
});

test('a custom reply of the wrong class is never sent: the fail decision goes instead', async () => {
  const r = rig({ needs: () => needs(['connect', 'rcpt']),
    // The types forbid it; a handler in plain JavaScript or a bug could still return it.
    rcpt: () => ({ kind: 'reject', reply: { code: '451', ext: '4.7.1', text: 'later' } }) as unknown as Decision });
  await openTo(r, { sender: '<a@x>' });
  await r.session.receive({ kind: 'rcpt', recipient: '<b@y>', args: [] });
  expect(r.sent()).toEqual([TEMPFAIL]);
  expect(r.errors.map((e) => e.stage)).toEqual(['rcpt']);
});

test('commands before OPTNEG and a second OPTNEG are protocol errors, thrown as they arrive', async () => {
  const r = rig({ needs: () => needs(['connect']) });
  expect(() => r.session.receive(CONNECT)).toThrow(/^connect before option negotiation$/);
  await r.session.receive(OFFER);
  expect(() => r.session.receive(OFFER)).toThrow(/^second option negotiation on one connection$/);
});

test('an event whose handler answers at once is answered before receive returns, without a promise', async () => {
  const r = rig({ needs: () => needs(['connect']), connect: () => ({ kind: 'reject' }) });
  await r.session.receive(OFFER);
  r.sent();
  expect(r.session.receive(CONNECT)).toBeUndefined();
  expect(r.sent()).toEqual([REJECT]);
});

test('an event whose handler waits is answered when it is done', async () => {
  let answer!: (verdict: { kind: 'tempfail' }) => void;
  const r = rig({ needs: () => needs(['connect']), connect: () => new Promise((resolve) => (answer = resolve)) });
  await r.session.receive(OFFER);
  r.sent();
  const pending = r.session.receive(CONNECT);
  expect(pending).toBeInstanceOf(Promise);
  expect(r.sent()).toEqual([]);
  answer({ kind: 'tempfail' });
  await pending;
  expect(r.sent()).toEqual([TEMPFAIL]);
});
