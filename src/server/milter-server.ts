// The milter listener: accepts MTA connections on TCP or a unix socket, caps them, shuts down gracefully.
import { createServer, type Server, type Socket } from 'node:net';
import { FloodgateError } from '../errors';
import type { MilterHandler } from '../session/handler';
import type { SessionObserver, SessionOptions } from '../session/session';
import { MilterConnection, type ConnectionLimits } from './connection';
import { ListenError } from './errors';
import { formatListenAddress, type ListenAddress } from './listen-address';
import { applySocketPermissions, removeStaleSocket, type SocketPermissions } from './unix-socket';

export interface ServerSettings {
  maxConnections: number;
  limits: ConnectionLimits;
  session: Omit<SessionOptions, 'transport' | 'observer'>;
}

export interface ServerEvents extends SessionObserver {
  protocolError(connectionId: string, error: FloodgateError): void;
  connectionRefused(reason: string, remote: string): void;
}

export class MilterServer {
  private server: Server | undefined;
  private readonly connections = new Map<string, MilterConnection>();
  private nextId = 1;
  private drained: (() => void) | undefined;

  constructor(
    readonly address: ListenAddress,
    private handler: MilterHandler,
    private settings: ServerSettings,
    private readonly events: ServerEvents,
    private readonly socketPermissions: SocketPermissions = { mode: 0o660 },
  ) {}

  get connectionCount(): number {
    return this.connections.size;
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
  }

  async listen(): Promise<void> {
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    const address = this.address;
    if (address.kind === 'unix') await removeStaleSocket(address.path);
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
    const connection = new MilterConnection(
      id,
      socket,
      this.handler,
      { ...this.settings.session, transport: this.address.kind, observer: this.events },
      this.settings.limits,
      {
        protocolError: (connId, error) => this.events.protocolError(connId, error),
        closed: (connId) => {
          this.connections.delete(connId);
          if (this.connections.size === 0) this.drained?.();
        },
      },
    );
    this.connections.set(id, connection);
  }
}
