// negotiate/expectsReply: version, actions, NO*/NR*/SKIP/RCPT_REJ/HDR_LEADSPC bits and macro lists from offer and needs.
import fc from 'fast-check';
import { Action, MacroStage, Proto } from '../../../src/milter/constants';
import { MilterProtocolError } from '../../../src/milter/errors';
import { expectsReply, negotiate, type EventStage, type MilterNeeds, type Transport } from '../../../src/milter/negotiation';

const ALL_STAGES: EventStage[] = ['connect', 'helo', 'mail', 'rcpt', 'data', 'header', 'eoh', 'body', 'unknown'];
/** Sendmail 8.14+ and Postfix milter_protocol=6. */
const V6 = { version: 6, actions: 0x1ff, protocol: 0x1fffff };
/** Postfix milter_protocol=2, 3 and 4. */
const POSTFIX_2 = { version: 2, actions: 0x1ff, protocol: 0x7f };
const POSTFIX_3 = { version: 3, actions: 0x1ff, protocol: 0x17f };
const POSTFIX_4 = { version: 4, actions: 0x1ff, protocol: 0x37f };

function needs(stages: EventStage[], more: Partial<MilterNeeds> = {}): MilterNeeds {
  return { stages: new Set(stages), actions: 0, ...more };
}

function negotiationError(action: () => unknown): MilterProtocolError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(MilterProtocolError);
    expect((error as MilterProtocolError).code).toBe('FG_ERR_NEGOTIATION');
    return error as MilterProtocolError;
  }
  throw new Error('negotiation succeeded');
}

describe('version', () => {
  test.each([
    [6, 6],
    [4, 4],
    [3, 3],
    [2, 2],
    [7, 6],
    [0x01000001, 6],
  ])('offer %i -> answer %i', (offered, answered) => {
    expect(negotiate({ ...V6, version: offered }, needs(ALL_STAGES), 'tcp').version).toBe(answered);
  });

  test.each([0, 1])('offer %i (below 2) throws FG_ERR_NEGOTIATION', (version) => {
    expect(negotiationError(() => negotiate({ ...V6, version }, needs(ALL_STAGES), 'tcp')).message).toMatch(String(version));
  });
});

describe('actions', () => {
  test('the answer holds exactly the actions needed', () => {
    expect(negotiate(V6, needs([], { actions: Action.ADDHDRS | Action.QUARANTINE }), 'tcp').actions).toBe(0x21);
    expect(negotiate(V6, needs([]), 'tcp').actions).toBe(0);
  });

  test('an action the MTA did not offer throws, naming the missing bits', () => {
    const offer = { ...V6, actions: Action.ADDHDRS | Action.CHGBODY };
    const error = negotiationError(() => negotiate(offer, needs([], { actions: Action.ADDHDRS | Action.ADDRCPT_PAR }), 'tcp'));
    expect(error.message).toMatch(/0x80/);
  });

  test('an offer of 0 actions means the v1 set 0x0F (libmilter compatibility)', () => {
    expect(negotiate({ ...V6, actions: 0 }, needs([], { actions: 0x0f }), 'tcp').actions).toBe(0x0f);
    negotiationError(() => negotiate({ ...V6, actions: 0 }, needs([], { actions: Action.CHGHDRS }), 'tcp'));
  });
});

describe('protocol bits', () => {
  test('every stage needed over tcp: no NO* bits, only SKIP (the body is read)', () => {
    expect(negotiate(V6, needs(ALL_STAGES), 'tcp').protocol).toBe(Proto.SKIP);
  });

  test('no stage needed over tcp: every NO* bit except NODATA (Postfix Nagle stall, section 12.15)', () => {
    const { protocol } = negotiate(V6, needs([]), 'tcp');
    expect(protocol).toBe(0x17f);
    expect(protocol & Proto.NODATA).toBe(0);
  });

  test('no stage needed over unix: NODATA is allowed', () => {
    expect(negotiate(V6, needs([]), 'unix').protocol).toBe(0x37f);
  });

  test.each([
    ['connect', Proto.NOCONNECT],
    ['helo', Proto.NOHELO],
    ['mail', Proto.NOMAIL],
    ['rcpt', Proto.NORCPT],
    ['header', Proto.NOHDRS],
    ['eoh', Proto.NOEOH],
    ['body', Proto.NOBODY],
    ['unknown', Proto.NOUNKNOWN],
  ] as Array<[EventStage, number]>)('only %s not needed -> only its NO* bit', (stage, bit) => {
    const { protocol } = negotiate(V6, needs(ALL_STAGES.filter((s) => s !== stage)), 'tcp');
    expect(protocol & 0x3ff & ~Proto.SKIP).toBe(bit);
  });

  test('offer 0 protocol means the v1 set 0x3F: nothing outside it is answered', () => {
    const { protocol } = negotiate({ ...V6, protocol: 0 }, needs(['connect'], { headerLeadingSpace: true, rejectedRecipients: true }), 'unix');
    expect(protocol).toBe(0x3f & ~Proto.NOCONNECT);
  });

  test('Postfix milter_protocol=2 (offer 0x7F): nothing outside 0x7F, even on unix with NR and SKIP wanted', () => {
    const want = needs(['connect', 'helo', 'body', 'header'], { observeOnly: new Set(['connect', 'header'] as EventStage[]), rejectedRecipients: true, headerLeadingSpace: true });
    const { protocol, version } = negotiate(POSTFIX_2, want, 'unix');
    expect(version).toBe(2);
    expect(protocol).toBe(Proto.NOMAIL | Proto.NORCPT | Proto.NOEOH);
  });

  test('Postfix 3 (0x17F) clears NODATA on unix; Postfix 4 (0x37F) grants it', () => {
    expect(negotiate(POSTFIX_3, needs([]), 'unix').protocol).toBe(0x17f);
    expect(negotiate(POSTFIX_4, needs([]), 'unix').protocol).toBe(0x37f);
  });

  test('SKIP only when the body is needed, and only when offered', () => {
    expect(negotiate(V6, needs(['body']), 'tcp').protocol & Proto.SKIP).toBe(Proto.SKIP);
    expect(negotiate(V6, needs(['header']), 'tcp').protocol & Proto.SKIP).toBe(0);
    expect(negotiate(POSTFIX_4, needs(['body']), 'tcp').protocol & Proto.SKIP).toBe(0);
  });

  test('RCPT_REJ when asked and offered, never otherwise', () => {
    expect(negotiate(V6, needs(['rcpt'], { rejectedRecipients: true }), 'tcp').protocol & Proto.RCPT_REJ).toBe(Proto.RCPT_REJ);
    expect(negotiate(V6, needs(['rcpt']), 'tcp').protocol & Proto.RCPT_REJ).toBe(0);
    expect(negotiate(POSTFIX_4, needs(['rcpt'], { rejectedRecipients: true }), 'tcp').protocol & Proto.RCPT_REJ).toBe(0);
  });

  test('HDR_LEADSPC when asked and offered, never otherwise', () => {
    expect(negotiate(V6, needs(['header'], { headerLeadingSpace: true }), 'tcp').protocol & Proto.HDR_LEADSPC).toBe(Proto.HDR_LEADSPC);
    expect(negotiate(V6, needs(['header']), 'tcp').protocol & Proto.HDR_LEADSPC).toBe(0);
    expect(negotiate({ ...V6, protocol: 0xfffff }, needs(['header'], { headerLeadingSpace: true }), 'tcp').protocol & Proto.HDR_LEADSPC).toBe(0);
  });
});

describe('no-reply (NR) bits', () => {
  const observed = needs(ALL_STAGES, { observeOnly: new Set<EventStage>(['connect', 'header', 'eoh', 'body']) });

  test('on unix: NR bits for exactly the observe-only stages', () => {
    const { protocol } = negotiate(V6, observed, 'unix');
    expect(protocol).toBe(Proto.NR_CONN | Proto.NR_HDR | Proto.NR_EOH | Proto.NR_BODY | Proto.SKIP);
  });

  test('on tcp: no NR bit at all (unanswered packets hit the delayed-ACK trap)', () => {
    expect(negotiate(V6, observed, 'tcp').protocol).toBe(Proto.SKIP);
  });

  test('on tcp with unanswered packets acknowledged at once (TCP_QUICKACK): NR bits as on unix', () => {
    expect(negotiate(V6, observed, 'tcp', true).protocol).toBe(Proto.NR_CONN | Proto.NR_HDR | Proto.NR_EOH | Proto.NR_BODY | Proto.SKIP);
  });

  test('an observe-only stage that is not needed gets its NO* bit, not its NR bit', () => {
    const { protocol } = negotiate(V6, needs(['mail'], { observeOnly: new Set<EventStage>(['mail', 'rcpt']) }), 'unix');
    expect(protocol & Proto.NR_MAIL).toBe(Proto.NR_MAIL);
    expect(protocol & Proto.NORCPT).toBe(Proto.NORCPT);
    expect(protocol & Proto.NR_RCPT).toBe(0);
  });

  test('expectsReply follows the negotiated NR bits', () => {
    const unix = negotiate(V6, observed, 'unix');
    expect(ALL_STAGES.filter((s) => !expectsReply(unix, s))).toEqual(['connect', 'header', 'eoh', 'body']);
    const tcp = negotiate(V6, observed, 'tcp');
    expect(ALL_STAGES.filter((s) => !expectsReply(tcp, s))).toEqual([]);
  });

  test('an NR bit the MTA did not offer is cleared, so a reply is still expected (libmilter rule)', () => {
    const negotiated = negotiate({ ...V6, protocol: 0x1fffff & ~Proto.NR_HDR }, observed, 'unix');
    expect(expectsReply(negotiated, 'header')).toBe(true);
    expect(expectsReply(negotiated, 'body')).toBe(false);
  });
});

describe('macro lists (SETSYMLIST)', () => {
  const envfrom = { [MacroStage.ENVFROM]: ['{auth_authen}', '{mail_addr}'] };

  test('requested and offered: SETSYMLIST joins the actions and the lists are answered', () => {
    const result = negotiate(V6, needs(['mail'], { actions: Action.ADDHDRS, macros: envfrom }), 'tcp');
    expect(result.actions).toBe(Action.ADDHDRS | Action.SETSYMLIST);
    expect(result.macros).toEqual(envfrom);
  });

  test('requested but not offered: no SETSYMLIST, no lists, no failure', () => {
    const result = negotiate({ ...V6, actions: 0xff }, needs(['mail'], { macros: envfrom }), 'tcp');
    expect(result.actions).toBe(0);
    expect(result.macros).toBeUndefined();
  });

  test('not requested (absent or empty): no SETSYMLIST and no lists', () => {
    for (const macros of [undefined, {}]) {
      const result = negotiate(V6, needs(['mail'], { macros }), 'tcp');
      expect(result.actions & Action.SETSYMLIST).toBe(0);
      expect(result).not.toHaveProperty('macros');
    }
  });

  test('an EOM list alone gets an empty EOH list (Sendmail ignores EOM without EOH)', () => {
    const result = negotiate(V6, needs([], { macros: { [MacroStage.EOM]: ['{msg_id}'] } }), 'tcp');
    expect(result.macros).toEqual({ [MacroStage.EOM]: ['{msg_id}'], [MacroStage.EOH]: [] });
  });

  test('an EOH list alone gets an EOM list (else Sendmail sends no EOM macros)', () => {
    const result = negotiate(V6, needs([], { macros: { [MacroStage.EOH]: ['i'] } }), 'tcp');
    expect(result.macros?.[MacroStage.EOH]).toEqual(['i']);
    expect(result.macros?.[MacroStage.EOM]).toEqual(expect.arrayContaining(['{msg_id}']));
  });

  test('both or neither of EOM/EOH: the lists are answered unchanged, the request is not mutated', () => {
    const both = { [MacroStage.EOM]: ['i'], [MacroStage.EOH]: ['{x}'] };
    expect(negotiate(V6, needs([], { macros: both }), 'tcp').macros).toEqual(both);
    const request = { ...envfrom };
    expect(negotiate(V6, needs([], { macros: request }), 'tcp').macros).toEqual(envfrom);
    negotiate(V6, needs([], { macros: { [MacroStage.EOM]: ['i'] } }), 'tcp');
    expect(request).toEqual(envfrom);
  });
});

describe('invariants over arbitrary offers and needs', () => {
  const stagesArb = fc.subarray(ALL_STAGES);
  test('never a protocol bit or action the MTA did not offer; NODATA never over tcp; NR never over tcp', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 10 }),
        fc.integer({ min: 0, max: 0x1ff }),
        fc.integer({ min: 0, max: 0x1fffff }),
        stagesArb,
        stagesArb,
        fc.boolean(),
        fc.boolean(),
        fc.constantFrom<Transport>('tcp', 'unix'),
        (version, offeredActions, offeredProtocol, stages, observe, rcptRej, leadSpace, transport) => {
          const effectiveActions = offeredActions === 0 ? 0x0f : offeredActions;
          const effectiveProtocol = offeredProtocol === 0 ? 0x3f : offeredProtocol;
          const want = needs(stages, { actions: effectiveActions & 0x0ff, observeOnly: new Set(observe), rejectedRecipients: rcptRej, headerLeadingSpace: leadSpace, macros: { [MacroStage.CONNECT]: ['j'] } });
          const result = negotiate({ version, actions: offeredActions, protocol: offeredProtocol }, want, transport);
          expect(result.version).toBe(Math.min(version, 6));
          expect(result.protocol & ~effectiveProtocol).toBe(0);
          expect(result.actions & ~effectiveActions).toBe(0);
          if (transport === 'tcp') expect(result.protocol & (Proto.NODATA | 0xff000 | Proto.NR_HDR)).toBe(0);
          for (const stage of stages) if (!observe.includes(stage)) expect(expectsReply(result, stage)).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
