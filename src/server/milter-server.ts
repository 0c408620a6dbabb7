// The milter listener: accepts MTA connections on TCP or a unix socket, caps them, shuts down gracefully.
import { createServer, type Server, type Socket } from 'node:net';
import { FloodgateError } from '../errors';
import type { MilterHandler } from '../session/handler';
import type { SessionObserver, SessionOptions } from '../session/session';
import { quickAckerFor, quickAckUnavailable } from '../native/tcp-quickack';
import { MilterConnection, type ConnectionLimits, type QuickAck } from './connection';
import { ListenError } from './errors';
import { formatListenAddress, type ListenAddress } from './listen-address';
import { applySocketPermissions, removeStaleSocket, type SocketPermissions } from './unix-socket';

export interface ServerSettings {
  maxConnections: number;
  limits: ConnectionLimits;
  session: Omit<SessionOptions, 'transport' | 'observer'>;
  /**
   * TCP_QUICKACK on accepted TCP connections (default true; unix sockets never need it): removes
   * the ~40 ms delayed-ACK stall per unanswered packet that Sendmail (and Postfix with NR flags) hit.
   */
  tcpQuickAck?: boolean;
  /** Which reads to acknowledge at once (default 'unanswered'); 'every-read' exists for the benchmark. */
  tcpQuickAckPolicy?: QuickAck['policy'];
}

export interface ServerEvents extends SessionObserver {
  protocolError(connectionId: string, error: FloodgateError): void;
  connectionRefused(reason: string, remote: string): void;
  /** An MTA connection was accepted: one SMTP session (Postfix and Sendmail open one per session). */
  connectionAccepted?(): void;
  /** A native facility (e.g. 'TCP_QUICKACK') cannot be used; reported once per server, which runs on without it. */
  nativeUnavailable?(feature: string, reason: string): void;
}

export class MilterServer {
  private server: Server | undefined;
  private readonly connections = new Map<string, MilterConnection>();
  private nextId = 1;
  private drained: (() => void) | undefined;
  private quickAckReported = false;
  /** What every new session gets, made once per (re)configuration rather than once per connection. */
  private sessionOptions: SessionOptions;
  /** The same for a TCP connection whose unanswered reads are acknowledged at once (TCP_QUICKACK). */
  private ackedSessionOptions: SessionOptions;

  constructor(
    readonly address: ListenAddress,
    private handler: MilterHandler,
    private settings: ServerSettings,
    private readonly events: ServerEvents,
    private readonly socketPermissions: SocketPermissions = { mode: 0o660 },
  ) {
    [this.sessionOptions, this.ackedSessionOptions] = this.sessionOptionsOf(settings);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Sessions waiting out a tarpit delay now. */
  get delayingCount(): number {
    let n = 0;
    for (const connection of this.connections.values()) if (connection.delaying) n++;
    return n;
  }

  /** The bound TCP port (useful when listening on port 0 in tests). */
  get port(): number {
    const bound = this.server?.address();
    return bound && typeof bound === 'object' ? bound.port : 0;
  }

  /** New settings and handler apply to connections accepted from now on (SIGHUP). */
  reconfigure(handler: MilterHandler, settings: ServerSettings): void {
    this.handler = handler;
    this.settings = settings;
    [this.sessionOptions, this.ackedSessionOptions] = this.sessionOptionsOf(settings);
    this.checkQuickAck();
  }

  async listen(): Promise<void> {
    // noDelay at accept, in C++: Postfix waits for every answer, so none may sit in Nagle's buffer.
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server = server;
    const address = this.address;
    if (address.kind === 'unix') await removeStaleSocket(address.path);
    this.checkQuickAck();
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => reject(new ListenError(`cannot listen on ${formatListenAddress(address)}: ${error.code ?? error.message}`)));
      if (address.kind === 'tcp') {
        server.listen({ host: address.host, port: address.port, backlog: 511 }, () => resolve());
        return;
      }
      // The socket file is created by bind(), inside listen(): a umask of 0777 keeps it closed to
      // everyone but root until 'listening', where the configured mode is applied before any accept.
      const previous = process.umask(0o777);
      try {
        server.listen({ path: address.path, backlog: 511 }, () => {
          try {
            applySocketPermissions(address.path, this.socketPermissions);
            resolve();
          } catch (error) {
            server.close();
            reject(error);
          }
        });
      } finally {
        process.umask(previous);
      }
    });
  }

  /** Stops accepting, lets sessions finish within `graceMs`, then cuts the rest. */
  async close(graceMs: number): Promise<void> {
    const server = this.server;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    if (this.connections.size > 0) {
      const allGone = new Promise<void>((resolve) => (this.drained = resolve));
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([allGone, deadline]);
      clearTimeout(timer);
      for (const connection of this.connections.values()) connection.destroy();
    }
    await closed;
  }

  private accept(socket: Socket): void {
    if (this.connections.size >= this.settings.maxConnections) {
      // The MTA applies its milter failure policy (milter_default_action, F=) to this one session.
      this.events.connectionRefused(`connection limit ${this.settings.maxConnections} reached`, socket.remoteAddress ?? this.address.kind);
      socket.destroy();
      return;
    }
    const id = (this.nextId++).toString(36).padStart(6, '0');
    const quickAck = this.quickAckFor(socket);
    const connection = new MilterConnection(
      id,
      socket,
      this.handler,
      quickAck ? this.ackedSessionOptions : this.sessionOptions,
      this.settings.limits,
      {
        protocolError: (connId, error) => this.events.protocolError(connId, error),
        closed: (connId) => {
          this.connections.delete(connId);
          if (this.connections.size === 0) this.drained?.();
        },
      },
      quickAck,
    );
    this.connections.set(id, connection);
    this.events.connectionAccepted?.();
  }

  /** The options of a new session, and of one whose unanswered reads are acknowledged at once. */
  private sessionOptionsOf(settings: ServerSettings): [SessionOptions, SessionOptions] {
    const options: SessionOptions = { ...settings.session, transport: this.address.kind, observer: this.events };
    return [options, { ...options, unansweredAcked: true }];
  }

  private get quickAckWanted(): boolean {
    return this.address.kind === 'tcp' && this.settings.tcpQuickAck !== false;
  }

  /** Says at start-up (or when a reload turns it on) that TCP_QUICKACK is wanted but unavailable. */
  private checkQuickAck(): void {
    if (!this.quickAckWanted) return;
    const reason = quickAckUnavailable();
    if (reason !== undefined) this.reportQuickAck(reason);
  }

  private quickAckFor(socket: Socket): QuickAck | undefined {
    if (!this.quickAckWanted) return undefined;
    const acker = quickAckerFor(socket);
    if ('reason' in acker) {
      this.reportQuickAck(acker.reason);
      return undefined;
    }
    return { ackNow: acker.ackNow, policy: this.settings.tcpQuickAckPolicy ?? 'unanswered' };
  }

  private reportQuickAck(reason: string): void {
    if (this.quickAckReported) return;
    this.quickAckReported = true;
    this.events.nativeUnavailable?.('TCP_QUICKACK', reason);
  }
}
