// Option negotiation arithmetic: from the MTA's offer and what the handler needs, the flags we answer.
import { Action, MacroStage, MILTER_MIN_VERSION, MILTER_VERSION, Proto, V1_ACTIONS, V1_PROTOCOL } from './constants';
import { MilterProtocolError } from './errors';
import type { MacroRequest } from './replies';

/** SMTP events a handler can listen to (end of message is always delivered; no flag suppresses it). */
export type EventStage = 'connect' | 'helo' | 'mail' | 'rcpt' | 'data' | 'header' | 'eoh' | 'body' | 'unknown';

export interface MilterNeeds {
  /** Stages with a handler; the others are negotiated away where the MTA allows it. */
  readonly stages: ReadonlySet<EventStage>;
  /** Listened stages whose answer is always "continue": candidates for no-reply (NR) flags. */
  readonly observeOnly?: ReadonlySet<EventStage>;
  /** SMFIF_* bits for the end-of-message modifications the handler may make. */
  readonly actions: number;
  /** Also see recipients the MTA itself rejected (SMFIP_RCPT_REJ), when the MTA can. */
  readonly rejectedRecipients?: boolean;
  /** Header values exactly as sent, leading space included (SMFIP_HDR_LEADSPC). */
  readonly headerLeadingSpace?: boolean;
  readonly macros?: MacroRequest;
}

export type Transport = 'tcp' | 'unix';

export interface Negotiated {
  version: number;
  actions: number;
  protocol: number;
  macros?: MacroRequest;
}

const SKIP_FLAG: Record<EventStage, number> = {
  connect: Proto.NOCONNECT,
  helo: Proto.NOHELO,
  mail: Proto.NOMAIL,
  rcpt: Proto.NORCPT,
  data: Proto.NODATA,
  header: Proto.NOHDRS,
  eoh: Proto.NOEOH,
  body: Proto.NOBODY,
  unknown: Proto.NOUNKNOWN,
};

const NO_REPLY_FLAG: Record<EventStage, number> = {
  connect: Proto.NR_CONN,
  helo: Proto.NR_HELO,
  mail: Proto.NR_MAIL,
  rcpt: Proto.NR_RCPT,
  data: Proto.NR_DATA,
  header: Proto.NR_HDR,
  eoh: Proto.NR_EOH,
  body: Proto.NR_BODY,
  unknown: Proto.NR_UNKN,
};

const STAGES = Object.keys(SKIP_FLAG) as EventStage[];

/**
 * Computes our answer to the MTA's OPTNEG. Throws FG_ERR_NEGOTIATION when the MTA is too old or
 * cannot grant an action the handler needs (libmilter then closes the connection; so do we).
 * `unansweredAcked`: over TCP, every read that ends in a packet we do not answer is acknowledged at
 * once (TCP_QUICKACK), so no-reply flags cannot stall the MTA.
 */
export function negotiate(offer: { version: number; actions: number; protocol: number }, needs: MilterNeeds, transport: Transport, unansweredAcked = false): Negotiated {
  if (offer.version < MILTER_MIN_VERSION) {
    throw new MilterProtocolError('FG_ERR_NEGOTIATION', `MTA offers milter protocol version ${offer.version}, at least ${MILTER_MIN_VERSION} is needed`);
  }
  // libmilter's compatibility rule for very old MTAs that offer nothing.
  const offeredActions = offer.actions === 0 ? V1_ACTIONS : offer.actions;
  const offeredProtocol = offer.protocol === 0 ? V1_PROTOCOL : offer.protocol;

  const missing = needs.actions & ~offeredActions;
  if (missing !== 0) {
    throw new MilterProtocolError('FG_ERR_NEGOTIATION', `MTA does not allow actions 0x${missing.toString(16)} (offered 0x${offeredActions.toString(16)})`);
  }
  let actions = needs.actions;
  const wantsMacros = needs.macros !== undefined && Object.keys(needs.macros).length > 0;
  const macros = wantsMacros && (offeredActions & Action.SETSYMLIST) !== 0 ? withPairedEomLists(needs.macros ?? {}) : undefined;
  if (macros) actions |= Action.SETSYMLIST;

  let protocol = 0;
  for (const stage of STAGES) {
    if (!needs.stages.has(stage)) {
      // Postfix over TCP stalls ~40 ms per message on its delayed ACK when DATA is negotiated
      // away (protocol reference, section 12.15); answering DATA costs far less.
      if (stage === 'data' && transport === 'tcp') continue;
      protocol |= SKIP_FLAG[stage];
    } else if (needs.observeOnly?.has(stage) && (transport === 'unix' || unansweredAcked)) {
      // Unanswered packets set up the same delayed-ACK trap over TCP, so no-reply only on unix
      // sockets, or where the packets we do not answer are acknowledged at once (TCP_QUICKACK).
      protocol |= NO_REPLY_FLAG[stage];
    }
  }
  if (needs.stages.has('body')) protocol |= Proto.SKIP;
  if (needs.rejectedRecipients) protocol |= Proto.RCPT_REJ;
  if (needs.headerLeadingSpace) protocol |= Proto.HDR_LEADSPC;
  // Sendmail fails a milter that asks for any bit it did not offer; libmilter clears such bits.
  protocol &= offeredProtocol;

  return { version: Math.min(offer.version, MILTER_VERSION), actions, protocol, ...(macros ? { macros } : {}) };
}

/**
 * Sendmail ignores an EOM list sent without an EOH list, and sends no EOM macros at all for an EOH
 * list without an EOM list: send both or neither. The added EOH list is empty (no macros); an added
 * EOM list asks for what Sendmail sends by default.
 */
function withPairedEomLists(macros: MacroRequest): MacroRequest {
  const hasEom = macros[MacroStage.EOM] !== undefined;
  const hasEoh = macros[MacroStage.EOH] !== undefined;
  if (hasEom === hasEoh) return macros;
  return hasEom ? { ...macros, [MacroStage.EOH]: [] } : { ...macros, [MacroStage.EOM]: ['i', '{msg_id}'] };
}

/** Whether the MTA waits for our answer to this stage's command under the negotiated flags. */
export function expectsReply(negotiated: Negotiated, stage: EventStage): boolean {
  return (negotiated.protocol & NO_REPLY_FLAG[stage]) === 0;
}
