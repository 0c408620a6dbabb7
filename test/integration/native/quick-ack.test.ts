// The real server on loopback against a client that writes like Sendmail: macro packet, then the command, Nagle on.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FloodgateError } from '../../../src/errors';
import { MilterServer, type ServerEvents, type ServerSettings } from '../../../src/server/milter-server';
import type { ListenAddress } from '../../../src/server/listen-address';
import { continueHandler, median } from '../../support/message-latency';
import { TEST_SETTINGS } from '../../support/milter-under-test';
import { MtaClient } from '../../support/mta-client';

interface Recorded {
  unavailable: Array<{ feature: string; reason: string }>;
  protocolErrors: string[];
}

async function listen(address: ListenAddress, settings: Partial<ServerSettings> = {}): Promise<{ server: MilterServer; recorded: Recorded }> {
  const recorded: Recorded = { unavailable: [], protocolErrors: [] };
  const events: ServerEvents = {
    decision: () => undefined,
    handlerError: () => undefined,
    protocolError: (_conn: string, error: FloodgateError) => recorded.protocolErrors.push(error.message),
    connectionRefused: () => undefined,
    nativeUnavailable: (feature, reason) => recorded.unavailable.push({ feature, reason }),
  };
  const server = new MilterServer(address, continueHandler(), { ...TEST_SETTINGS, ...settings }, events, { mode: 0o600 });
  await server.listen();
  return { server, recorded };
}

const LOOPBACK: ListenAddress = { kind: 'tcp', host: '127.0.0.1', port: 0 };

/**
 * Sendmail's pattern (Debian's build lacks MILTER_NO_NAGLE): the macro packet and its command as
 * two writes on a Nagle socket. The command waits in the client's kernel until the macro packet
 * is acknowledged, and nothing is answered to a macro packet. Returns ms per MAIL, one per round.
 */
async function sendmailLikeMailTimes(port: number, rounds: number): Promise<number[]> {
  const mta = await MtaClient.open({ port });
  try {
    mta.socket.setNoDelay(false);
    await mta.negotiate();
    mta.macros('C', { j: 'rig.test.example' });
    mta.connectInfo('client.example.org', '127.0.0.1');
    await mta.reply();
    const times: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const started = performance.now();
      mta.macros('M', { i: `Q${i}`, '{mail_addr}': 'a@example.org' });
      mta.send('M', '<a@example.org>\0');
      const reply = await mta.reply();
      if (reply.code !== 'c') throw new Error(`MAIL answered '${reply.code}'`);
      times.push(performance.now() - started);
      mta.send('A');
    }
    return times;
  } finally {
    mta.close();
  }
}

describe('delayed-ACK stall of a macro packet followed by a separate write', () => {
  // The fastest of several round trips: a stall is a floor under every one of them (the ~40 ms
  // delayed-ACK timer), while a loaded machine only delays some.
  test('with TCP_QUICKACK the command is answered at once; without it, it waits ~40 ms', async () => {
    const on = await listen(LOOPBACK);
    const off = await listen(LOOPBACK, { tcpQuickAck: false });
    try {
      const withAck = await sendmailLikeMailTimes(on.server.port, 9);
      const withoutAck = await sendmailLikeMailTimes(off.server.port, 9);
      const show = (times: number[]): string => `median ${median(times).toFixed(2)} ms, fastest ${Math.min(...times).toFixed(2)} ms`;
      console.log(`MAIL round trip after a separate macro write: with TCP_QUICKACK ${show(withAck)}; without ${show(withoutAck)}`);
      expect(Math.min(...withAck)).toBeLessThan(10);
      // Guards the test itself: if this no longer stalls, the scripted client no longer reproduces Sendmail.
      expect(Math.min(...withoutAck)).toBeGreaterThan(30);
      expect(on.recorded).toEqual({ unavailable: [], protocolErrors: [] });
    } finally {
      await on.server.close(500);
      await off.server.close(500);
    }
  });
});

describe('when TCP_QUICKACK cannot be used', () => {
  afterEach(() => {
    jest.resetModules();
    jest.dontMock('../../../src/native/libc');
  });

  test('the server says so once and serves every connection without it', async () => {
    await jest.isolateModulesAsync(async () => {
      jest.doMock('../../../src/native/libc', () => ({
        ...jest.requireActual('../../../src/native/libc'),
        loadLibc: () => ({ available: false, reason: 'koffi cannot be loaded: test' }),
      }));
      const { MilterServer: IsolatedServer } = jest.requireActual<typeof import('../../../src/server/milter-server')>('../../../src/server/milter-server');
      const unavailable: string[] = [];
      const events: ServerEvents = {
        decision: () => undefined,
        handlerError: () => undefined,
        protocolError: () => undefined,
        connectionRefused: () => undefined,
        nativeUnavailable: (feature, reason) => unavailable.push(`${feature}: ${reason}`),
      };
      const server = new IsolatedServer(LOOPBACK, continueHandler(), TEST_SETTINGS, events);
      await server.listen();
      try {
        expect(unavailable).toEqual(['TCP_QUICKACK: koffi cannot be loaded: test']);
        for (let i = 0; i < 2; i++) {
          const times = await sendmailLikeMailTimes(server.port, 1);
          expect(times).toHaveLength(1);
        }
        expect(unavailable).toHaveLength(1);
      } finally {
        await server.close(500);
      }
    });
  });

  test('switched off, or on a unix socket, nothing is reported', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-quickack-'));
    await jest.isolateModulesAsync(async () => {
      jest.doMock('../../../src/native/libc', () => ({
        ...jest.requireActual('../../../src/native/libc'),
        loadLibc: () => ({ available: false, reason: 'koffi cannot be loaded: test' }),
      }));
      const { MilterServer: IsolatedServer } = jest.requireActual<typeof import('../../../src/server/milter-server')>('../../../src/server/milter-server');
      const nativeUnavailable = jest.fn();
      const events: ServerEvents = { decision: () => undefined, handlerError: () => undefined, protocolError: () => undefined, connectionRefused: () => undefined, nativeUnavailable };
      const off = new IsolatedServer(LOOPBACK, continueHandler(), { ...TEST_SETTINGS, tcpQuickAck: false }, events);
      const unix = new IsolatedServer({ kind: 'unix', path: join(dir, 'fg.sock') }, continueHandler(), TEST_SETTINGS, events, { mode: 0o600 });
      await off.listen();
      await unix.listen();
      try {
        await sendmailLikeMailTimes(off.port, 1);
        const mta = await MtaClient.open({ path: join(dir, 'fg.sock') });
        await mta.negotiate();
        mta.close();
        expect(nativeUnavailable).not.toHaveBeenCalled();
        // Turning it on by a reload reports it then.
        off.reconfigure(continueHandler(), TEST_SETTINGS);
        expect(nativeUnavailable).toHaveBeenCalledTimes(1);
      } finally {
        await off.close(500);
        await unix.close(500);
      }
    });
    rmSync(dir, { recursive: true, force: true });
  });
});
