// Builds the engine's facts from a milter session: normalised, length-capped, hostile-input safe.
import type { SessionContext } from '../session/handler';
import type { Facts, RuleEvent } from '../rules/rule-set';
import { domainOf, normaliseAddress, normaliseHost, normaliseIp } from '../rules/normalise';

export interface EventDetail {
  recipient?: string;
  size?: number;
}

export function factsFor(ctx: SessionContext, event: RuleEvent, detail: EventDetail = {}): Facts {
  const connect = ctx.connect;
  const ip = connect && (connect.family === 'inet' || connect.family === 'inet6') ? normaliseIp(connect.address) : undefined;
  // The MTA sends "[192.0.2.1]" when the client has no reverse DNS: that is no name at all.
  const clientName = connect && !connect.hostname.startsWith('[') ? normaliseHost(connect.hostname) : undefined;
  const sender = ctx.message ? normaliseAddress(ctx.message.sender) : undefined;
  const recipient = detail.recipient === undefined ? undefined : normaliseAddress(detail.recipient);
  const authUser = ctx.macro('{auth_authen}');
  return {
    event,
    clientIp: ip,
    clientName,
    helo: ctx.helo === undefined ? undefined : normaliseHost(ctx.helo),
    sender,
    senderDomain: sender ? domainOf(sender) : undefined,
    recipient,
    recipientDomain: recipient ? domainOf(recipient) : undefined,
    authUser: authUser ? normaliseAddress(authUser) : undefined,
    recipientRejectedByMta: event === 'rcpt' ? ctx.macro('{rcpt_mailer}') === 'error' : undefined,
    size: detail.size,
    macro: (name) => ctx.macro(name),
  };
}
