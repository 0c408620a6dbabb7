// Scripted SMTP client for e2e assertions: one command at a time, every reply kept with its timing.
import * as net from 'net';

export interface SmtpReply {
  code: number;
  /** Reply lines without the "250-" / "250 " prefix. */
  lines: string[];
  /** lines joined with \n. */
  text: string;
  /** The reply exactly as received, CRLFs included. */
  raw: string;
  /** Milliseconds from sending the command (or connecting, for the greeting) to the reply's last line. */
  elapsedMs: number;
  /** Date.now() when the reply's last line arrived. */
  receivedAt: number;
}

export interface SmtpClient {
  greeting: SmtpReply;
  /** Sends one command line (CRLF added) and reads its possibly multi-line reply. */
  command(line: string): Promise<SmtpReply>;
  /** DATA, then (only on 354) the dot-stuffed message and CRLF.CRLF; returns the final reply, or DATA's if not 354. */
  data(message: string): Promise<SmtpReply>;
  /** After a 354: sends the dot-stuffed message and the terminating dot; returns the end-of-data reply. */
  sendMessage(message: string): Promise<SmtpReply>;
  /** True once the server closed the connection (e.g. after a 421). */
  readonly closed: boolean;
  /** QUIT if the connection is still open (waiting briefly for 221), then close. Never throws. */
  close(): Promise<void>;
}

/** Normalises line endings to CRLF, dot-stuffs, and appends the end-of-data marker. */
export function encodeMessage(message: string): string {
  let body = message.replace(/\r?\n/g, '\r\n');
  if (!body.endsWith('\r\n')) body += '\r\n';
  return body.replace(/^\./gm, '..') + '.\r\n';
}

/** Connects and reads the greeting; opts.timeoutMs bounds every wait for a reply (default 30 s). */
export async function smtpConnect(
  port: number,
  host = '127.0.0.1',
  opts: { timeoutMs?: number; localAddress?: string } = {},
): Promise<SmtpClient> {
  // Default long enough for a Postfix with a slow milter, short enough to fail inside a jest timeout.
  const connection = new SmtpConnection(port, host, opts.timeoutMs ?? 30_000, opts.localAddress);
  await connection.connect();
  return connection;
}

class SmtpConnection implements SmtpClient {
  greeting!: SmtpReply;
  private readonly socket: net.Socket;
  private readonly queued: SmtpReply[] = [];
  private waiter: { resolve: (r: SmtpReply) => void; reject: (e: Error) => void } | undefined;
  private buffer = '';
  private partial: string[] = [];
  private partialRaw = '';
  private sentAt = Date.now();
  private isClosed = false;
  private closeReason = 'server closed the connection';

  constructor(
    private readonly port: number,
    private readonly host: string,
    private readonly timeoutMs: number,
    localAddress?: string,
  ) {
    this.socket = net.connect({ port, host, ...(localAddress ? { localAddress } : {}) });
    this.socket.setEncoding('utf8');
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: string) => this.onData(chunk));
    this.socket.on('error', (err) => (this.closeReason = err.message));
    this.socket.on('close', () => {
      this.isClosed = true;
      this.takeWaiter()?.reject(new Error(`${this.label}: ${this.closeReason} while waiting for a reply`));
    });
  }

  get closed(): boolean {
    return this.isClosed;
  }

  private get label(): string {
    return `SMTP ${this.host}:${this.port}`;
  }

  async connect(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', (err) => reject(new Error(`${this.label}: connect failed: ${err.message}`)));
    });
    this.sentAt = Date.now();
    try {
      this.greeting = await this.nextReply('the greeting');
    } catch (err) {
      this.socket.destroy();
      throw err;
    }
  }

  command(line: string): Promise<SmtpReply> {
    return this.send(line + '\r\n', JSON.stringify(line));
  }

  sendMessage(message: string): Promise<SmtpReply> {
    return this.send(encodeMessage(message), 'end of data');
  }

  async data(message: string): Promise<SmtpReply> {
    const reply = await this.command('DATA');
    return reply.code === 354 ? this.sendMessage(message) : reply;
  }

  async close(): Promise<void> {
    if (!this.isClosed) {
      // The server may answer QUIT, drop the connection, or hang: wait at most 2 s, never throw.
      let timer: NodeJS.Timeout | undefined;
      const quit = this.command('QUIT').catch(() => undefined);
      await Promise.race([quit, new Promise((r) => (timer = setTimeout(r, 2000)))]);
      clearTimeout(timer);
    }
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) !== -1) {
      const rawLine = this.buffer.slice(0, nl + 1);
      const line = rawLine.replace(/\r?\n$/, '');
      this.buffer = this.buffer.slice(nl + 1);
      this.partialRaw += rawLine;
      this.partial.push(line.slice(4));
      // "250-..." continues a reply; "250 ..." or a bare "250" ends it.
      if (line.charAt(3) === '-') continue;
      const reply: SmtpReply = {
        code: Number.parseInt(line.slice(0, 3), 10),
        lines: this.partial,
        text: this.partial.join('\n'),
        raw: this.partialRaw,
        elapsedMs: Date.now() - this.sentAt,
        receivedAt: Date.now(),
      };
      this.partial = [];
      this.partialRaw = '';
      const waiter = this.takeWaiter();
      if (waiter) waiter.resolve(reply);
      else this.queued.push(reply); // unsolicited (e.g. a 421 before shutdown): kept for the next read
    }
  }

  private takeWaiter(): SmtpConnection['waiter'] {
    const waiter = this.waiter;
    this.waiter = undefined;
    return waiter;
  }

  private send(text: string, what: string): Promise<SmtpReply> {
    if (this.isClosed) return Promise.reject(new Error(`${this.label}: connection closed before ${what}`));
    this.sentAt = Date.now();
    this.socket.write(text);
    return this.nextReply(what);
  }

  private nextReply(what: string): Promise<SmtpReply> {
    const queued = this.queued.shift();
    if (queued) return Promise.resolve(queued);
    if (this.isClosed) return Promise.reject(new Error(`${this.label}: connection closed before reply to ${what}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`${this.label}: no reply to ${what} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiter = {
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
    });
  }
}

/** One SMTP stage of sendMail, in the order the stages happen. */
export type SmtpStage = 'greeting' | 'helo' | 'xclient' | 'heloAfterXclient' | 'mail' | 'rcpt' | 'data' | 'endOfData';

export interface SendMailOptions {
  helo: string;
  from: string;
  rcpts: string[];
  /** The whole message, header and body; default a small message naming from and the first rcpt. */
  body?: string;
  /** XCLIENT attributes, e.g. 'ADDR=192.0.2.7 NAME=[UNAVAILABLE]', sent after EHLO, then EHLO again. */
  xclient?: string;
  host?: string;
  /** The client's own address, e.g. one of 127.0.0.0/8: how a client looks different to Sendmail, which has no XCLIENT. */
  localAddress?: string;
  timeoutMs?: number;
}

/**
 * What each stage answered. A stage after the one that failed is absent: the transaction stops at
 * the first failing greeting/EHLO/XCLIENT/MAIL/DATA reply (or when no RCPT was accepted), but
 * every RCPT is always sent. `transcript` lists the same replies in order, with the command sent.
 */
export interface SendMailResult {
  greeting: SmtpReply;
  helo?: SmtpReply;
  xclient?: SmtpReply;
  heloAfterXclient?: SmtpReply;
  mail?: SmtpReply;
  rcpts: SmtpReply[];
  /** The reply to the DATA command (354 when accepted). */
  data?: SmtpReply;
  /** The reply to the message's final dot: the queue decision. */
  endOfData?: SmtpReply;
  /** True when end-of-data was answered 2xx. */
  accepted: boolean;
  /** The stage whose reply stopped the transaction, if any. */
  failedAt?: SmtpStage;
  transcript: Array<{ stage: SmtpStage; command?: string; reply: SmtpReply }>;
}

function defaultBody(opts: SendMailOptions): string {
  const id = `${Date.now()}.${Math.random().toString(36).slice(2)}@floodgate.test`;
  return [
    `From: <${opts.from}>`,
    `To: <${opts.rcpts[0] ?? ''}>`,
    'Subject: floodgate test message',
    `Date: ${new Date().toUTCString()}`,
    `Message-ID: <${id}>`,
    '',
    'Hello from the floodgate test suite.',
    '',
  ].join('\r\n');
}

/** Runs one whole SMTP transaction and reports every stage's reply; ends with QUIT. */
export async function sendMail(port: number, opts: SendMailOptions): Promise<SendMailResult> {
  const client = await smtpConnect(port, opts.host ?? '127.0.0.1', { timeoutMs: opts.timeoutMs, localAddress: opts.localAddress });
  const result: SendMailResult = { greeting: client.greeting, rcpts: [], accepted: false, transcript: [] };
  result.transcript.push({ stage: 'greeting', reply: client.greeting });
  const step = async (stage: SmtpStage, line: string, ok: (code: number) => boolean): Promise<SmtpReply | undefined> => {
    const reply = await client.command(line);
    result.transcript.push({ stage, command: line, reply });
    if (ok(reply.code)) return reply;
    result.failedAt = stage;
    return undefined;
  };
  const is2xx = (c: number): boolean => c >= 200 && c < 300;
  try {
    if (client.greeting.code !== 220) {
      result.failedAt = 'greeting';
      return result;
    }
    result.helo = await step('helo', `EHLO ${opts.helo}`, is2xx);
    if (!result.helo) return result;
    if (opts.xclient !== undefined) {
      // A successful XCLIENT answers with a new 220 greeting and resets the session: EHLO again.
      result.xclient = await step('xclient', `XCLIENT ${opts.xclient}`, (c) => c === 220);
      if (!result.xclient) return result;
      result.heloAfterXclient = await step('heloAfterXclient', `EHLO ${opts.helo}`, is2xx);
      if (!result.heloAfterXclient) return result;
    }
    result.mail = await step('mail', `MAIL FROM:<${opts.from}>`, is2xx);
    if (!result.mail) return result;
    // Every RCPT is sent even after a refusal: a test may want each recipient's verdict.
    for (const rcpt of opts.rcpts) {
      const reply = await client.command(`RCPT TO:<${rcpt}>`);
      result.transcript.push({ stage: 'rcpt', command: `RCPT TO:<${rcpt}>`, reply });
      result.rcpts.push(reply);
      if (reply.code === 421) break; // the server is closing the session
    }
    if (!result.rcpts.some((r) => is2xx(r.code))) {
      result.failedAt = 'rcpt';
      return result;
    }
    result.data = await step('data', 'DATA', (c) => c === 354);
    if (!result.data) return result;
    const endOfData = await client.sendMessage(opts.body ?? defaultBody(opts));
    result.transcript.push({ stage: 'endOfData', reply: endOfData });
    result.endOfData = endOfData;
    result.accepted = is2xx(endOfData.code);
    if (!result.accepted) result.failedAt = 'endOfData';
    return result;
  } finally {
    await client.close();
  }
}
