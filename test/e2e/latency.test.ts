// Issue 7: added latency per message through real Sendmail and Postfix with Floodgate over TCP, TCP_QUICKACK on and off.
import type { MilterServer } from '../../src/server/milter-server';
import { continueHandler, measureSession, median } from '../support/message-latency';
import { startMilter, TEST_SETTINGS, type ServerLog } from '../support/milter-under-test';
import { startPostfix } from '../support/postfix-rig';
import { startSendmail } from '../support/sendmail-rig';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink';

jest.setTimeout(120_000);

/** Messages per SMTP session, sent one after another as the issue asks. */
const MESSAGES = 20;
/** The bound the issue sets for the added median latency per message. */
const BOUND_MS = 15;
/**
 * A stall is systematic (every stage of every message: +130 ms per message through Sendmail), while
 * a loaded 2-core machine (CI runs two test files at once) adds sporadic delays of similar size to
 * the bound: the assertion takes the best of a few interleaved rounds.
 */
const ROUNDS = 3;

interface Mta {
  smtpPort: number;
  stop(): Promise<void>;
}

/**
 * Interleaved rounds, each one SMTP session per case: the MTA without a milter, then the same MTA
 * through Floodgate with TCP_QUICKACK on, then off (settings apply to milter connections accepted
 * from then on, and the MTA opens one per SMTP session). Returns, per round, the median
 * per-message latency of each case minus the round's baseline.
 */
async function addedLatency(name: string, start: (milter: string | undefined) => Promise<Mta>, spec: (port: number) => string): Promise<{ on: number[]; off: number[] }> {
  let milter: MilterServer | undefined;
  let log: ServerLog | undefined;
  const mtas: Mta[] = [];
  try {
    ({ server: milter, log } = await startMilter(continueHandler()));
    const bare = await start(undefined);
    mtas.push(bare);
    const through = await start(spec(milter.port));
    mtas.push(through);
    const session = async (port: number): Promise<number> => median((await measureSession(port, MESSAGES)).perMessageMs);
    const added = { on: [] as number[], off: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      const baseline = await session(bare.smtpPort);
      milter.reconfigure(continueHandler(), { ...TEST_SETTINGS, tcpQuickAck: true });
      added.on.push((await session(through.smtpPort)) - baseline);
      milter.reconfigure(continueHandler(), { ...TEST_SETTINGS, tcpQuickAck: false });
      added.off.push((await session(through.smtpPort)) - baseline);
    }
    const list = (values: number[]): string => values.map((v) => v.toFixed(1)).join(', ');
    console.log(`${name} over TCP, ${MESSAGES} messages per SMTP session, added median ms per message by round: TCP_QUICKACK on [${list(added.on)}], off [${list(added.off)}]`);
    expect(log.protocolErrors).toEqual([]);
    expect(log.handlerErrors).toEqual([]);
    return added;
  } finally {
    for (const mta of mtas) await mta.stop();
    await milter?.close(1000);
  }
}

describe('per-message latency over TCP (no delayed-ACK stalls)', () => {
  let sink: SmtpSink;
  beforeAll(async () => {
    sink = await startSmtpSink();
  });
  afterAll(async () => {
    await sink?.close();
  });

  // Sendmail writes each macro packet and its command as two writes: without TCP_QUICKACK every
  // stage waits ~44 ms for Floodgate's delayed ACK (~130 ms per message).
  test(`Sendmail: Floodgate adds under ${BOUND_MS} ms per message`, async () => {
    const { on } = await addedLatency(
      'Sendmail',
      (milter) => startSendmail({ relayPort: sink.port, logLevel: 0, ...(milter === undefined ? {} : { milter }) }),
      (port) => `inet:${port}@127.0.0.1`,
    );
    expect(Math.min(...on)).toBeLessThan(BOUND_MS);
  });

  // Postfix writes macros and command together and Floodgate never asks it for NODATA or NR flags
  // over TCP, so it does not stall either way; the bound guards that it stays so.
  test(`Postfix: Floodgate adds under ${BOUND_MS} ms per message`, async () => {
    const { on } = await addedLatency(
      'Postfix',
      (milter) => startPostfix({ relayPort: sink.port, ...(milter === undefined ? {} : { milter }) }),
      (port) => `inet:127.0.0.1:${port}`,
    );
    expect(Math.min(...on)).toBeLessThan(BOUND_MS);
  });
});
