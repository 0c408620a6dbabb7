// The HTTP listener: the status page, its JSON API, /metrics, /healthz and /readyz. Loopback or a unix
// socket by default; hardened against slow, oversized and malformed requests, so that it can never
// take the event loop from the milter sessions that share it.
import { chmodSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { HttpListen } from '../config/http-config';
import type { Operations } from '../ops/operations';
import { ListenError } from '../server/errors';
import type { Asset } from './assets';
import type { HttpAuthenticator } from './auth';
import { apiRoute, HttpProblem, type ApiContext } from './api';

export interface StatusServerOptions {
  listen: HttpListen;
  operations: Operations;
  auth: HttpAuthenticator;
  assets: ReadonlyMap<string, Asset>;
}

/** More connections than this are closed at accept: the page polls with one, Prometheus scrapes with one. */
const MAX_CONNECTIONS = 64;
/** Node's default is 16 KiB; no legitimate request to this listener comes near 8. */
const MAX_HEADER_BYTES = 8192;
/** A client must have sent its headers within this (slowloris), and the whole request within REQUEST_MS. */
const HEADERS_MS = 5_000;
const REQUEST_MS = 10_000;
const KEEP_ALIVE_MS = 5_000;

/**
 * The page's script and styles are its own files: a CSP without 'unsafe-inline' means that a value
 * an SMTP client chose, even if some bug let it into the markup, cannot run.
 */
const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

export class StatusServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly options: StatusServerOptions) {}

  /** The bound TCP port (0 for a unix socket). */
  get port(): number {
    const bound = this.server?.address();
    return bound && typeof bound === 'object' ? bound.port : 0;
  }

  async listen(): Promise<void> {
    const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: REQUEST_MS, connectionsCheckingInterval: 1000 }, (request, response) => {
      void this.handle(request, response);
    });
    server.headersTimeout = HEADERS_MS;
    server.keepAliveTimeout = KEEP_ALIVE_MS;
    server.maxConnections = MAX_CONNECTIONS;
    // Malformed HTTP and oversized headers: a 400 if the socket can still take it, then closed.
    server.on('clientError', (_error, socket: Socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server = server;
    const listen = this.options.listen;
    if (listen.kind === 'unix') {
      try {
        unlinkSync(listen.path);
      } catch {
        // nothing left behind
      }
    }
    const where = listen.kind === 'tcp' ? `${listen.host}:${listen.port}` : `unix:${listen.path}`;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => reject(new ListenError(`cannot listen for HTTP on ${where}: ${error.code ?? error.message} (http.listen)`)));
      if (listen.kind === 'tcp') {
        server.listen({ host: listen.host, port: listen.port }, () => resolve());
        return;
      }
      // A reverse proxy on the same host connects as another user (www-data): group access, no
      // others. bind() runs inside listen() and creates the socket under this umask, so it is never
      // open to every local user, even for the moment before the chmod (the service's umask may be 0).
      const previous = process.umask(0o117);
      try {
        server.listen(listen.path, () => resolve());
      } finally {
        process.umask(previous);
      }
    });
    if (listen.kind === 'unix') chmodSync(listen.path, 0o660);
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.setHeader(name, value);
    try {
      await this.route(request, response);
    } catch (error) {
      const problem = error instanceof HttpProblem ? error : new HttpProblem(500, 'internal error');
      if (!response.headersSent) sendJson(response, problem.status, { error: problem.message }, problem.headers);
      else response.destroy();
    }
  }

  private async route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(request.url ?? '/', 'http://floodgate.invalid');
    } catch {
      throw new HttpProblem(400, 'malformed request target');
    }
    const method = request.method ?? 'GET';
    const path = url.pathname;
    // Probes first: no credentials, nothing about the mail in the answer.
    if (path === '/healthz') return sendText(response, 200, 'ok\n');
    if (path === '/readyz') {
      const ready = await this.options.operations.ready();
      return ready.ready ? sendText(response, 200, 'ready\n') : sendText(response, 503, `not ready: ${ready.reason}\n`);
    }
    const identity = await this.options.auth.identify(request);
    if (!identity) throw new HttpProblem(401, 'credentials required', { 'WWW-Authenticate': 'Basic realm="Floodgate", charset="UTF-8"' });
    if (path === '/metrics') {
      if (method !== 'GET' && method !== 'HEAD') throw new HttpProblem(405, 'GET only', { Allow: 'GET, HEAD' });
      const text = await this.options.operations.metrics.text();
      response.writeHead(200, { 'Content-Type': this.options.operations.metrics.contentType, 'Cache-Control': 'no-store' });
      response.end(method === 'HEAD' ? undefined : text);
      return;
    }
    if (path.startsWith('/api/')) {
      const context: ApiContext = { operations: this.options.operations, auth: this.options.auth, user: identity.user, method, url, request };
      return sendJson(response, 200, await apiRoute(context));
    }
    const asset = this.options.assets.get(path);
    if (!asset) throw new HttpProblem(404, 'not found');
    if (method !== 'GET' && method !== 'HEAD') throw new HttpProblem(405, 'GET only', { Allow: 'GET, HEAD' });
    if (request.headers['if-none-match'] === asset.etag) {
      response.writeHead(304, { ETag: asset.etag });
      response.end();
      return;
    }
    response.writeHead(200, { 'Content-Type': asset.type, 'Content-Length': asset.body.length, ETag: asset.etag, 'Cache-Control': 'no-cache' });
    response.end(method === 'HEAD' ? undefined : asset.body);
  }
}

function sendJson(response: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  response.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...headers });
  response.end(body);
}

function sendText(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  response.end(text);
}
