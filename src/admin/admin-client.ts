// Sends one request to the service's admin socket and returns its answer.
import { connect } from 'node:net';
import type { AdminRequest, AdminResponse } from './admin-protocol';

export class AdminUnavailableError extends Error {}

/** `top` scans the whole store (Redis: about 7 s per million keys), hence the long default. */
export function adminRequest(path: string, request: AdminRequest, timeoutMs = 60_000): Promise<AdminResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let answer = '';
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(new Error(`no answer from ${path} within ${timeoutMs} ms`));
    });
    socket.once('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.once('error', (error: NodeJS.ErrnoException) => reject(new AdminUnavailableError(`${path}: ${error.code ?? error.message}`)));
    socket.once('end', () => {
      try {
        resolve(JSON.parse(answer) as AdminResponse);
      } catch {
        reject(new Error(`malformed answer from ${path}`));
      }
    });
  });
}
