// In-process SMTP server that accepts every message and records it, standing in for Postfix's next hop.
import * as net from 'net';

export interface ReceivedMessage {
  /** Envelope sender without angle brackets ('' for the null sender). */
  from: string;
  /** Envelope recipients without angle brackets, in RCPT order. */
  rcpts: string[];
  /** The HELO/EHLO argument of the session that delivered it. */
  helo: string;
  /** The full message as received: dot-unstuffed, lines ending CRLF, without the final ".". */
  data: string;
  /** The header section, unfolded; value is the text after the colon, trimmed. */
  headers: Array<{ name: string; value: string }>;
}

export interface SmtpSink {
  port: number;
  host: string;
  /** Messages in the order their DATA completed. */
  messages: ReceivedMessage[];
  /** Resolves with a copy of messages once at least n have arrived; rejects after timeoutMs (default 10 s). */
  waitForMessages(n: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
  /** Stops listening and drops open sessions. */
  close(): Promise<void>;
}

/** Parses the header section of a CRLF message: folded lines are joined (the line break removed). */
export function parseHeaders(data: string): Array<{ name: string; value: string }> {
  const headers: Array<{ name: string; value: string }> = [];
  const end = data.indexOf('\r\n\r\n');
  const section = end === -1 ? data : data.slice(0, end);
  let current: string | undefined;
  const flush = (): void => {
    if (current === undefined) return;
    const colon = current.indexOf(':');
    if (colon > 0) headers.push({ name: current.slice(0, colon).trim(), value: current.slice(colon + 1).trim() });
    current = undefined;
  };
  for (const line of section.split('\r\n')) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && current !== undefined) {
      current += line; // RFC 5322 unfolding: delete the CRLF, keep the whitespace.
    } else {
      flush();
      current = line;
    }
  }
  flush();
  return headers;
}

/** Extracts the address from "FROM:<a@b> SIZE=1" / "TO: <a@b>"; tolerates a missing bracket pair. */
function pathArgument(rest: string): string {
  const m = /^[^:]*:\s*<([^>]*)>/.exec(rest) ?? /^[^:]*:\s*(\S*)/.exec(rest);
  return m ? m[1] : '';
}

export function startSmtpSink(opts: { host?: string } = {}): Promise<SmtpSink> {
  const host = opts.host ?? '127.0.0.1';
  const messages: ReceivedMessage[] = [];
  const sockets = new Set<net.Socket>();
  const waiters = new Set<() => void>();

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // A peer that resets the connection must not crash the test process.
    socket.on('error', () => socket.destroy());
    // utf8 with a StringDecoder (setEncoding) keeps multi-byte characters split across chunks intact.
    socket.setEncoding('utf8');
    const reply = (text: string): void => {
      if (!socket.destroyed) socket.write(text + '\r\n');
    };

    let helo = '';
    let from: string | undefined;
    let rcpts: string[] = [];
    let inData = false;
    let dataLines: string[] = [];
    let pending = '';

    const onLine = (line: string): void => {
      if (inData) {
        if (line === '.') {
          inData = false;
          const data = dataLines.length ? dataLines.join('\r\n') + '\r\n' : '';
          messages.push({ from: from ?? '', rcpts, helo, data, headers: parseHeaders(data) });
          from = undefined;
          rcpts = [];
          dataLines = [];
          reply('250 2.0.0 Ok: queued by floodgate test sink');
          for (const wake of waiters) wake();
        } else {
          dataLines.push(line.startsWith('.') ? line.slice(1) : line); // dot-unstuffing
        }
        return;
      }
      const verb = line.split(' ', 1)[0].toUpperCase();
      const rest = line.slice(verb.length).trim();
      switch (verb) {
        case 'EHLO':
          helo = rest;
          // Advertise 8BITMIME and SMTPUTF8 so Postfix relays 8-bit content unchanged, not re-encoded.
          reply('250-sink.floodgate.test\r\n250-PIPELINING\r\n250-SIZE 104857600\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES');
          break;
        case 'HELO':
          helo = rest;
          reply('250 sink.floodgate.test');
          break;
        case 'MAIL':
          from = pathArgument(rest);
          rcpts = [];
          reply('250 2.1.0 Ok');
          break;
        case 'RCPT':
          rcpts.push(pathArgument(rest));
          reply('250 2.1.5 Ok');
          break;
        case 'DATA':
          inData = true;
          dataLines = [];
          reply('354 End data with <CR><LF>.<CR><LF>');
          break;
        case 'RSET':
          from = undefined;
          rcpts = [];
          reply('250 2.0.0 Ok');
          break;
        case 'NOOP':
          reply('250 2.0.0 Ok');
          break;
        case 'QUIT':
          reply('221 2.0.0 Bye');
          socket.end();
          break;
        default:
          reply('502 5.5.2 Error: command not recognized');
      }
    };

    // Pipelining: one chunk may carry several commands, or a command split in two; handle lines one by one.
    socket.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) !== -1) {
        const line = pending.slice(0, nl).replace(/\r$/, '');
        pending = pending.slice(nl + 1);
        onLine(line);
      }
    });
    reply('220 sink.floodgate.test ESMTP floodgate test sink');
  });

  const waitForMessages = (n: number, timeoutMs = 10_000): Promise<ReceivedMessage[]> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (messages.length < n) return false;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(messages.slice());
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        const got = messages.map((m) => `${m.from} -> ${m.rcpts.join(',')}`).join('; ');
        reject(new Error(`SMTP sink on ${host}:${address.port}: expected ${n} message(s) within ${timeoutMs} ms, got ${messages.length}${got ? ` (${got})` : ''}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });

  let address: net.AddressInfo;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      address = server.address() as net.AddressInfo;
      resolve({
        port: address.port,
        host,
        messages,
        waitForMessages,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
