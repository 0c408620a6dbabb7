// Builds the engine's facts from a milter session: normalised, length-capped, hostile-input safe.
import type { SessionContext } from '../session/handler';
import type { MessageContent } from '../content/message-content';
import type { Facts, RuleEvent } from '../rules/rule-set';
import { domainOf, normaliseAddress, normaliseHost, normaliseIp } from '../net/normalise';

export interface EventDetail {
  recipient?: string;
  /** Bytes received (eom). */
  size?: number;
  content?: MessageContent;
}

/** RFC 1870's SIZE=n on MAIL FROM; undefined when absent or not a number. */
function declaredSize(args: readonly string[]): number | undefined {
  for (const arg of args) {
    const m = /^SIZE=([0-9]{1,15})$/i.exec(arg);
    if (m) return Number(m[1]);
  }
  return undefined;
}

type ConnectInfo = NonNullable<SessionContext['connect']>;
interface Client {
  ip: string | undefined;
  clientName: string | undefined;
}
const NO_CLIENT: Client = { ip: undefined, clientName: undefined };
/** Every event of a connection has the same client: normalise it once, not at each RCPT. */
const clients = new WeakMap<ConnectInfo, Client>();

function clientOf(connect: ConnectInfo): Client {
  let client = clients.get(connect);
  if (!client) {
    client = {
      ip: connect.family === 'inet' || connect.family === 'inet6' ? normaliseIp(connect.address) : undefined,
      // The MTA sends "[192.0.2.1]" when the client has no reverse DNS: that is no name at all.
      clientName: !connect.hostname.startsWith('[') ? normaliseHost(connect.hostname) : undefined,
    };
    clients.set(connect, client);
  }
  return client;
}

/** `now`: the clock, for the session's age (unset: no age, as in tools that replay no session). */
export function factsFor(ctx: SessionContext, event: RuleEvent, detail: EventDetail = {}, now?: number): Facts {
  const { ip, clientName } = ctx.connect ? clientOf(ctx.connect) : NO_CLIENT;
  const sender = ctx.message ? normaliseAddress(ctx.message.sender) : undefined;
  const recipient = detail.recipient === undefined ? undefined : normaliseAddress(detail.recipient);
  const authUser = ctx.macro('{auth_authen}');
  const inMessage = event === 'header' || event === 'eom';
  const size = event === 'mail' && ctx.message ? declaredSize(ctx.message.senderArgs) : detail.size;
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
    size,
    sessionAgeMs: now !== undefined && ctx.connectedAt !== undefined ? now - ctx.connectedAt : undefined,
    recipients: inMessage && ctx.message ? ctx.message.recipients.map(normaliseAddress) : undefined,
    content: detail.content,
    macro: (name) => ctx.macro(name),
  };
}
