// More than one libuv handle on the listening socket, so that a turn of the event loop accepts more than one MTA connection.
//
// Why: libuv accepts one connection per readable event of a listening handle, then leaves the rest
// to the next turn of the loop (libuv PR #3696, "don't accept() connections in a loop"). Postfix
// opens a milter connection per SMTP session, so under load several wait in the kernel's accept
// queue while each turn first serves every busy connection: measured at 16 connections, the first
// answer of a connection (OPTNEG) took 3.1-3.8 ms of a 5-6 ms session, and at 128 connections 39 ms.
// Each extra handle listens on a dup() of the same socket (one socket, one accept queue: no
// SO_REUSEPORT, so no other process can join the port) and accepts one more per turn.
import { createServer, type Server, type Socket } from 'node:net';
import { loadLibc, socketFd } from '../native/libc';

/** Handles per listening socket, the first included: at 16 MTA connections OPTNEG p50 fell from 3.1 to 1.0-1.2 ms. */
export const ACCEPT_HANDLES = 8;

/**
 * Opens `count` more handles on `listening`'s socket, each passing its connections to `accept`.
 * Returns them (to close with the main one), or why there are none: without the libc binding
 * (koffi), or when the socket cannot be duplicated, the server runs with its one handle.
 */
export async function openExtraAcceptHandles(listening: Server, count: number, accept: (socket: Socket) => void): Promise<Server[] | { reason: string }> {
  const binding = loadLibc();
  if (!binding.available) return { reason: binding.reason };
  const found = socketFd(listening);
  if ('reason' in found) return found;
  const extra: Server[] = [];
  for (let i = 0; i < count; i++) {
    const fd = binding.libc.dup(found.fd);
    if (fd < 0) break;
    const server = createServer({ noDelay: true }, accept);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ fd }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      // Not taken over by a handle: the duplicate is ours to close.
      binding.libc.close(fd);
      await closeAll(extra);
      return { reason: `a second handle on the listening socket failed: ${(error as Error).message}` };
    }
    extra.push(server);
  }
  if (extra.length < count) {
    await closeAll(extra);
    return { reason: 'dup() of the listening socket failed' };
  }
  return extra;
}

/** Stops the handles accepting; resolves once each has closed (its connections are the caller's to end). */
export function closeAll(servers: readonly Server[]): Promise<void> {
  return Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => undefined);
}
