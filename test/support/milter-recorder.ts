// A TCP proxy between an MTA and a milter that records both byte streams of every connection.
import { connect, createServer, type Socket } from 'node:net';

export interface RecordedConnection {
  /** What the MTA sent, as it arrived. */
  toMilter: Buffer;
  /** What the milter answered. */
  toMta: Buffer;
}

export interface MilterRecorder {
  /** The port the MTA connects to, on 127.0.0.1. */
  port: number;
  /** Connections that have closed on both sides, in the order they closed. */
  readonly finished: RecordedConnection[];
  /** Connections still open. */
  readonly open: number;
  close(): Promise<void>;
}

/** Listens on a free loopback port and forwards each connection to the milter at `target`. */
export async function startMilterRecorder(target: { host: string; port: number }): Promise<MilterRecorder> {
  const finished: RecordedConnection[] = [];
  const sockets = new Set<Socket>();
  let open = 0;
  const server = createServer((mta) => {
    open++;
    const milter = connect(target.port, target.host);
    const toMilter: Buffer[] = [];
    const toMta: Buffer[] = [];
    sockets.add(mta).add(milter);
    mta.on('data', (chunk: Buffer) => {
      toMilter.push(chunk);
      milter.write(chunk);
    });
    milter.on('data', (chunk: Buffer) => {
      toMta.push(chunk);
      mta.write(chunk);
    });
    mta.on('end', () => milter.end());
    milter.on('end', () => mta.end());
    mta.on('error', () => milter.destroy());
    milter.on('error', () => mta.destroy());
    let closed = 0;
    const onClose = () => {
      if (++closed < 2) return;
      open--;
      sockets.delete(mta);
      sockets.delete(milter);
      finished.push({ toMilter: Buffer.concat(toMilter), toMta: Buffer.concat(toMta) });
    };
    mta.on('close', onClose);
    milter.on('close', onClose);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('recorder: no TCP address');
  return {
    port: address.port,
    finished,
    get open() {
      return open;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
