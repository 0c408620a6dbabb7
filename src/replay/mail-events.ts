// What the log parsers read out of Postfix's and Sendmail's lines, and the sessions rebuilt from them.

/** Where an SMTP command was refused. */
export type RefusedStage = 'connect' | 'helo' | 'mail' | 'rcpt' | 'data' | 'eom';

export interface Client {
  clientIp?: string;
  /** The client's verified reverse name; absent when the MTA logged `unknown` or a bare [address]. */
  clientName?: string;
}

/**
 * `session` names one SMTP connection (host, program and PID of the smtpd or sendmail process
 * handling it), `queueId` one message; Postfix logs delivery lines by queue id only.
 */
export type MailEvent =
  | ({ kind: 'connect'; session: string } & Client)
  | ({ kind: 'client'; session: string; queueId: string; authUser?: string } & Client)
  | ({ kind: 'refused'; session: string; queueId?: string; stage: RefusedStage; byMta: boolean; reply: string; helo?: string; sender?: string; recipient?: string } & Client)
  | ({ kind: 'sender'; queueId: string; sender: string; size?: number; recipients?: number; session?: string } & Client)
  | { kind: 'delivery'; queueId: string; recipients: string[] }
  | { kind: 'removed'; queueId: string }
  | { kind: 'disconnect'; session: string };

export interface ReplayRecipient {
  address: string;
  time: number;
  /** The MTA refused it itself (unknown user, relay denied): the rules' `rejected_by_mta`. */
  rejectedByMta: boolean;
}

export interface ReplayMessage {
  time: number;
  queueId?: string;
  /** '' for the null sender; absent when the log never named it. */
  sender?: string;
  size?: number;
  recipients: ReplayRecipient[];
}

export interface ReplaySession extends Client {
  /** When the session began (its first line). */
  time: number;
  helo?: string;
  authUser?: string;
  messages: ReplayMessage[];
  /** The MTA's log says the session was refused before any message. */
  refusedAt?: 'connect' | 'helo';
}

/** `name[192.0.2.1]` (Postfix) or `name [192.0.2.1]` (Sendmail) as a client; `unknown` is no name. */
export function clientFrom(text: string): Client {
  const open = text.lastIndexOf('[');
  const close = text.indexOf(']', open);
  if (open === -1 || close === -1) return {};
  const name = text.slice(0, open).trim();
  const ip = text.slice(open + 1, close);
  const clientIp = ip.startsWith('IPv6:') ? ip.slice(5) : ip;
  return { ...(clientIp ? { clientIp } : {}), ...(name && name !== 'unknown' ? { clientName: name } : {}) };
}

/** `<a@b>` as `a@b`; '' for `<>`. */
export function bareAddress(text: string): string {
  return text.startsWith('<') && text.endsWith('>') ? text.slice(1, -1) : text;
}
