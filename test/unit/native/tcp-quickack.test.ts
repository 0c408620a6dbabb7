// The TCP_QUICKACK wrapper on real loopback sockets, and the loader's fallbacks when koffi or Linux is missing.
import { createServer, connect, Socket, type Server } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { socketFd } from '../../../src/native/libc';
import { getQuickAck, quickAckerFor, quickAckUnavailable, setQuickAck } from '../../../src/native/tcp-quickack';

/** A connected pair: `accepted` is the server side, as MilterServer gets it. */
async function socketPair(listen: (server: Server) => void): Promise<{ accepted: Socket; client: Socket; close(): Promise<void> }> {
  const server = createServer();
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => {
    server.once('listening', () => resolve());
    listen(server);
  });
  const address = server.address();
  const client = typeof address === 'string' ? connect(address) : connect(address!.port, '127.0.0.1');
  const socket = await accepted;
  return {
    accepted: socket,
    client,
    close: async () => {
      client.destroy();
      socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const tcpPair = () => socketPair((server) => server.listen(0, '127.0.0.1'));

function fdOf(socket: Socket): number {
  const found = socketFd(socket);
  if ('reason' in found) throw new Error(found.reason);
  return found.fd;
}

/** One request and its reply, so that the accepted side has just received and answered. */
async function pingPong(accepted: Socket, client: Socket): Promise<void> {
  const echoed = new Promise<void>((resolve) => client.once('data', () => resolve()));
  accepted.once('data', () => accepted.write('pong'));
  client.write('ping');
  await echoed;
}

describe('TCP_QUICKACK through koffi', () => {
  test('the binding loads on Linux', () => {
    expect(quickAckUnavailable()).toBeUndefined();
  });

  test('setQuickAck returns true on an accepted TCP socket and the option reads back on', async () => {
    const pair = await tcpPair();
    try {
      const fd = fdOf(pair.accepted);
      expect(fd).toBeGreaterThanOrEqual(0);
      expect(setQuickAck(fd)).toBe(true);
      expect(getQuickAck(fd)).toBe(true);
    } finally {
      await pair.close();
    }
  });

  // Why it must be re-armed: Linux drops quick-ACK (enters delayed-ACK "pingpong" mode) as soon
  // as the socket answers what it received, which is every milter stage.
  test('the kernel clears quick-ACK mode after each reply, and setQuickAck arms it again', async () => {
    const pair = await tcpPair();
    try {
      const fd = fdOf(pair.accepted);
      for (let round = 0; round < 3; round++) {
        await pingPong(pair.accepted, pair.client);
        await new Promise((r) => setTimeout(r, 5));
        expect(getQuickAck(fd)).toBe(false);
        expect(setQuickAck(fd)).toBe(true);
        expect(getQuickAck(fd)).toBe(true);
      }
    } finally {
      await pair.close();
    }
  });

  test('quickAckerFor binds the socket once; ackNow works after every exchange', async () => {
    const pair = await tcpPair();
    try {
      const acker = quickAckerFor(pair.accepted);
      if ('reason' in acker) throw new Error(acker.reason);
      await pingPong(pair.accepted, pair.client);
      expect(acker.ackNow()).toBe(true);
      expect(getQuickAck(fdOf(pair.accepted))).toBe(true);
    } finally {
      await pair.close();
    }
  });

  test('bad descriptors and non-TCP sockets give false, never a throw', async () => {
    expect(setQuickAck(-1)).toBe(false);
    expect(setQuickAck(1.5)).toBe(false);
    expect(getQuickAck(-1)).toBeUndefined();
    const dir = mkdtempSync(join(tmpdir(), 'fg-quickack-'));
    const pair = await socketPair((server) => server.listen(join(dir, 'q.sock')));
    try {
      // A unix socket has a descriptor but no TCP options (EOPNOTSUPP).
      const fd = fdOf(pair.accepted);
      expect(setQuickAck(fd)).toBe(false);
      expect(getQuickAck(fd)).toBeUndefined();
    } finally {
      await pair.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a socket without a descriptor yields a reason, not an fd', async () => {
    expect(socketFd(new Socket())).toEqual({ reason: expect.stringMatching(/no handle/) });
    expect(quickAckerFor(new Socket())).toEqual({ reason: expect.stringMatching(/no handle/) });
    const pair = await tcpPair();
    await pair.close();
    expect('reason' in socketFd(pair.accepted)).toBe(true);
    const fake = { _handle: { fd: -1 } } as unknown as Socket;
    expect(socketFd(fake)).toEqual({ reason: expect.stringMatching(/fd -1/) });
    const noField = { _handle: {} } as unknown as Socket;
    expect(socketFd(noField)).toEqual({ reason: expect.stringMatching(/no fd field/) });
  });
});

describe('where the binding cannot load', () => {
  afterEach(() => jest.resetModules());

  test('a missing koffi makes every call a no-op with one reason', () => {
    jest.isolateModules(() => {
      jest.doMock('koffi', () => {
        throw new Error("Cannot find module 'koffi'");
      });
      const quickAck = jest.requireActual<typeof import('../../../src/native/tcp-quickack')>('../../../src/native/tcp-quickack');
      expect(quickAck.quickAckUnavailable()).toMatch(/^koffi cannot be loaded: Cannot find module 'koffi'/);
      expect(quickAck.setQuickAck(3)).toBe(false);
      expect(quickAck.getQuickAck(3)).toBeUndefined();
      expect(quickAck.quickAckerFor(new Socket())).toEqual({ reason: expect.stringMatching(/^koffi cannot be loaded/) });
    });
  });

  test('another OS is reported without touching koffi', () => {
    const platform = Object.getOwnPropertyDescriptor(process, 'platform')!;
    Object.defineProperty(process, 'platform', { value: 'darwin' });
    try {
      jest.isolateModules(() => {
        const quickAck = jest.requireActual<typeof import('../../../src/native/tcp-quickack')>('../../../src/native/tcp-quickack');
        expect(quickAck.quickAckUnavailable()).toBe('no native calls on darwin (Linux only)');
        expect(quickAck.setQuickAck(3)).toBe(false);
      });
    } finally {
      Object.defineProperty(process, 'platform', platform);
    }
  });
});
