// Free TCP ports and listener checks on loopback, for tests that start servers.
import * as fs from 'fs';
import * as net from 'net';

/**
 * Asks the kernel for a free port by listening on port 0, then releases it.
 * There is a window between close and the caller's bind in which another process may take the
 * port; callers that start an external server (Postfix) retry on "address in use".
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`freePort: unexpected listen address ${String(address)}`));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/** Resolves true if a TCP connection to host:port succeeds within timeoutMs, else false. */
export function canConnect(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * True if something listens on host:port (IPv4), read from /proc/net/tcp without connecting:
 * a probe connection would reach the server's milter as a real CONNECT and show up in its log.
 */
export function isListening(port: number, host = '127.0.0.1'): boolean {
  // /proc/net/tcp writes addresses as little-endian hex "0100007F:1F90"; state 0A is LISTEN.
  const hexHost = host.split('.').map((o) => Number(o).toString(16).padStart(2, '0').toUpperCase()).reverse().join('');
  const wanted = [`${hexHost}:${port.toString(16).toUpperCase().padStart(4, '0')}`, `00000000:${port.toString(16).toUpperCase().padStart(4, '0')}`];
  let table: string;
  try {
    table = fs.readFileSync('/proc/net/tcp', 'utf8');
  } catch {
    return false;
  }
  return table.split('\n').some((line) => {
    const fields = line.trim().split(/\s+/);
    return fields[3] === '0A' && wanted.includes(fields[1]);
  });
}
