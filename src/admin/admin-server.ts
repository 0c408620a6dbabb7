// The service's local admin socket: how `floodgate scores` reaches the live store (LevelDB has one writer).
import { chmodSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { ScoreStore } from '../store/score-store';
import { MAX_REQUEST_BYTES, parseRequest, type AdminResponse } from './admin-protocol';
import { runAdminRequest } from './score-commands';

export class AdminServer {
  private server: Server | undefined;

  constructor(
    private readonly path: string,
    private readonly store: ScoreStore,
    private readonly onReset: (key: string, existed: boolean) => void,
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
      const response = await runAdminRequest(this.store, request, this.now());
      if (request.op === 'reset' && response.ok) this.onReset(request.key, response.result === true);
      return response;
    } catch (error) {
      return { ok: false, error: (error as Error).message };
    }
  }

  private reply(socket: Socket, response: AdminResponse): void {
    socket.end(`${JSON.stringify(response)}\n`);
  }
}
