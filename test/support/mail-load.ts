// Steady SMTP load through a Postfix rig for the fault tests: a few loops per client address, each
// message recorded with its replies and timings so that a test can check what the MTA answered and
// whether every accepted message reached the sink.
import { sendMail } from './smtp-client';
import type { ReceivedMessage } from './smtp-sink';

export interface LoadClient {
  /** The address Postfix is told by XCLIENT: Floodgate's ip key. */
  ip: string;
  /** Sessions this client keeps open at once. */
  concurrency: number;
  /** Pause after each message of a loop (ms): a "normal" client sends slowly, a flooder not at all. */
  pauseMs?: number;
}

export interface LoadMessage {
  ip: string;
  /** Unique; also the message's Subject, to find it at the sink. */
  id: string;
  startedAt: number;
  /** The RCPT reply's code and when it arrived (absent when the session stopped before RCPT). */
  rcptCode?: number;
  rcptAt?: number;
  /** The reply that ended the transaction: the end-of-data reply, or the refusal before it. */
  finalCode?: number;
  finalText?: string;
  /** The stage that refused, when one did. */
  failedAt?: string;
  /** A connection error or timeout instead of a reply. */
  error?: string;
  accepted: boolean;
}

export interface MailLoad {
  readonly messages: LoadMessage[];
  /** Stops starting new messages and waits for the ones in flight. */
  stop(): Promise<void>;
}

const REFUSED_PAUSE_MS = 20;

/** Starts the loops; each sends one recipient per message until stop(). */
export function startMailLoad(smtpPort: number, clients: LoadClient[], label = 'load'): MailLoad {
  const messages: LoadMessage[] = [];
  let running = true;
  let serial = 0;
  const loop = async (client: LoadClient): Promise<void> => {
    while (running) {
      const id = `${label}-${client.ip}-${++serial}`;
      const message: LoadMessage = { ip: client.ip, id, startedAt: Date.now(), accepted: false };
      messages.push(message);
      try {
        const result = await sendMail(smtpPort, {
          helo: 'pc.customer.example',
          xclient: `ADDR=${client.ip} NAME=[UNAVAILABLE]`,
          from: `sender@${client.ip.replace(/\./g, '-')}.example.org`,
          rcpts: [`rcpt${serial}@example.com`],
          body: `Subject: ${id}\r\nMessage-ID: <${id}@floodgate.test>\r\n\r\nfault test load\r\n`,
          timeoutMs: 20_000,
        });
        const rcpt = result.rcpts[0];
        if (rcpt) Object.assign(message, { rcptCode: rcpt.code, rcptAt: rcpt.receivedAt });
        const last = result.transcript[result.transcript.length - 1]?.reply;
        Object.assign(message, { finalCode: last?.code, finalText: last?.text, failedAt: result.failedAt, accepted: result.accepted });
      } catch (error) {
        message.error = (error as Error).message;
      }
      // A refused client retries after a short pause, as an MTA would later: without it a loop spins
      // through thousands of 451s a second while Floodgate is down and starves the machine.
      const pause = message.accepted ? client.pauseMs ?? 0 : Math.max(client.pauseMs ?? 0, REFUSED_PAUSE_MS);
      if (pause > 0) await new Promise((r) => setTimeout(r, pause));
    }
  };
  const loops = clients.flatMap((client) => Array.from({ length: client.concurrency }, () => loop(client)));
  return {
    messages,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Ids of accepted load messages that the sink has not received. */
export function acceptedButMissing(load: LoadMessage[], received: ReceivedMessage[]): string[] {
  const subjects = new Set(received.map((m) => m.headers.find((h) => h.name.toLowerCase() === 'subject')?.value));
  return load.filter((m) => m.accepted && !subjects.has(m.id)).map((m) => m.id);
}

/** "code@stage" tallies, e.g. { '250@endOfData': 120, '451@rcpt': 9 }, for assertions and failure messages. */
export function tally(load: LoadMessage[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const m of load) {
    const key = m.error !== undefined ? `error: ${m.error.replace(/\d+/g, 'N')}` : `${m.finalCode}@${m.failedAt ?? 'endOfData'}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/**
 * The fault tests' rules: one point per recipient on the client's address, a day's half-life (a
 * minute of test decays it by under 0.05 %), so a score counts the RCPTs Floodgate answered; above
 * `limit` the client is tempfailed.
 */
export function onePointPerRecipient(limit: number, text = 'Too much mail from your address'): string {
  return `keys:
  ip: { half_life: 1d }
rules:
  - name: recipients
    on: rcpt
    add: { ip: 1 }
thresholds:
  ip:
    - above: ${limit}
      tempfail: { code: "451", ext: "4.7.1", text: "${text}" }
`;
}
