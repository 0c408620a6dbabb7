// The service's local admin socket: how `floodgate scores`, `status` and `reload` reach the running service (LevelDB has one writer).
import { chmodSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { ScoreStore } from '../store/score-store';
import type { StatusReport } from '../ops/status-report';
import { MAX_REQUEST_BYTES, parseRequest, type AdminResponse, type ReloadResult } from './admin-protocol';
import { runScoreRequest } from './score-commands';

/** What the service itself answers, besides the store's scores. */
export interface AdminServiceHooks {
  onReset(key: string, existed: boolean): void;
  status(): Promise<StatusReport>;
  reload(): Promise<ReloadResult>;
}

export class AdminServer {
  private server: Server | undefined;

  constructor(
    private readonly path: string,
    private readonly store: ScoreStore,
    private readonly hooks: AdminServiceHooks,
    private readonly now: () => number = Date.now,
  ) {}

  async listen(): Promise<void> {
    try {
      unlinkSync(this.path); // only the service that owns the store may own this socket
    } catch {
      // none left behind
    }
    const server = createServer((socket) => this.serve(socket));
    this.server = server;
    // Only the service's own user may reset scores: 0600, applied before any accept (see milter-server.ts).
    const previous = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.path, () => resolve());
      });
    } finally {
      process.umask(previous);
    }
    chmodSync(this.path, 0o600);
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private serve(socket: Socket): void {
    let buffered = '';
    socket.setEncoding('utf8');
    socket.setTimeout(10_000, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > MAX_REQUEST_BYTES) return this.reply(socket, { ok: false, error: 'request too long' });
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      const line = buffered.slice(0, newline);
      socket.pause();
      void this.answer(line).then((response) => this.reply(socket, response));
    });
  }

  private async answer(line: string): Promise<AdminResponse> {
    try {
      const request = parseRequest(line);
      if (request.op === 'status') return { ok: true, result: await this.hooks.status() };
      if (request.op === 'reload') return { ok: true, result: await this.hooks.reload() };
      const response = await runScoreRequest(this.store, request, this.now());
      if (request.op === 'reset' && response.ok) this.hooks.onReset(request.key, response.result === true);
      return response;
    } catch (error) {
      return { ok: false, error: (error as Error).message };
    }
  }

  private reply(socket: Socket, response: AdminResponse): void {
    socket.end(`${JSON.stringify(response)}\n`);
  }
}
