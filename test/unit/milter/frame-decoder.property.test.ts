// Property tests: arbitrary bytes in any chunking give frames, commands or MilterProtocolError only, in bounded memory.
import fc from 'fast-check';
import { decodeCommand } from '../../../src/milter/commands';
import { MilterProtocolError } from '../../../src/milter/errors';
import { FrameDecoder } from '../../../src/milter/frame-decoder';
import { frame, frameWithLength, raw } from '../../support/frame-builder';
import { framesOf } from '../../support/frames';

const COMMAND_BYTES = [...'ABCDEHKLMNOQRTU'].map((c) => c.charCodeAt(0));

/** A packet with a correct length, a mostly-known command byte and random data (often NUL-rich). */
const plausibleFrame = fc
  .tuple(
    fc.oneof(fc.constantFrom(...COMMAND_BYTES), fc.integer({ min: 0, max: 255 })),
    fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
    fc.array(fc.constantFrom(0, 0x34, 0x36, 0x4c, 0x55), { maxLength: 4 }),
  )
  .map(([code, data, extra]) => frame(code, data, raw(extra)));

/** A stream: plausible packets, with now and then a broken length or raw garbage. */
const stream = fc
  .array(
    fc.oneof(
      { weight: 8, arbitrary: plausibleFrame },
      { weight: 1, arbitrary: fc.constantFrom(frameWithLength(0), frameWithLength(0xffffffff)) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b)) },
    ),
    { maxLength: 20 },
  )
  .map((parts) => Buffer.concat(parts));

/** Cut points in [0, 1): mapped onto the stream's length to split it into chunks. */
const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), { maxLength: 12 });

function split(wire: Buffer, fractions: number[]): Buffer[] {
  const points = fractions.map((f) => Math.floor(f * wire.length)).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(wire.subarray(from, p));
    from = p;
  }
  chunks.push(wire.subarray(from));
  return chunks;
}

type Outcome = { frames: string[]; commands: string[]; error?: string };

/** Runs a whole connection's input; any exception other than MilterProtocolError escapes and fails the property. */
function run(chunks: Buffer[], maxFrame?: number): Outcome {
  const decoder = new FrameDecoder(maxFrame);
  const outcome: Outcome = { frames: [], commands: [] };
  try {
    for (const chunk of chunks) {
      for (const f of framesOf(decoder, chunk)) {
        outcome.frames.push(f.toString('hex'));
        try {
          outcome.commands.push(decodeCommand(f).kind);
        } catch (error) {
          if (!(error instanceof MilterProtocolError)) throw error;
          expect(error.code).toBe('FG_ERR_COMMAND');
          outcome.commands.push(`error:${error.code}`);
        }
      }
    }
  } catch (error) {
    if (!(error instanceof MilterProtocolError)) throw error;
    // The connection is closed on a protocol error: nothing more is read.
    outcome.error = error.code;
  }
  return outcome;
}

describe('FrameDecoder + decodeCommand on arbitrary input', () => {
  test('uniform random bytes, randomly split: only frames, commands or MilterProtocolError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), cuts, (bytes, fractions) => {
        run(split(Buffer.from(bytes), fractions), 64);
      }),
      { numRuns: 500 },
    );
  });

  test('plausible packet streams: only frames, commands or MilterProtocolError', () => {
    fc.assert(
      fc.property(stream, cuts, (wire, fractions) => {
        run(split(wire, fractions));
      }),
      { numRuns: 1000 },
    );
  });

  test('the chunking never changes what is decoded, nor whether the stream fails', () => {
    fc.assert(
      fc.property(stream, cuts, (wire, fractions) => {
        const whole = run([wire], 64);
        const chunked = run(split(wire, fractions), 64);
        expect(chunked.error).toBe(whole.error);
        if (whole.error === undefined) {
          expect(chunked).toEqual(whole);
        } else {
          // push() throws for the whole chunk, so packets before a bad header in the same chunk are
          // not returned; with finer chunks more of them come out, always the same ones in order.
          expect(chunked.frames.slice(0, whole.frames.length)).toEqual(whole.frames);
        }
      }),
      { numRuns: 500 },
    );
  });

  test('a stream of valid packets decodes to exactly those packets, whatever the chunking', () => {
    fc.assert(
      fc.property(fc.array(plausibleFrame, { maxLength: 15 }), cuts, (frames, fractions) => {
        const decoder = new FrameDecoder();
        const out = split(Buffer.concat(frames), fractions).flatMap((chunk) => framesOf(decoder, chunk));
        expect(out.map((f) => f.toString('hex'))).toEqual(frames.map((f) => f.subarray(4).toString('hex')));
        expect(decoder.hasPartialFrame).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});

describe('bounded buffering', () => {
  const MAX_FRAME = 32;

  test('with a small maxFrame, pending bytes never exceed maxFrame + 4 without a FG_ERR_FRAME', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { maxLength: 200 }), (chunks) => {
        const decoder = new FrameDecoder(MAX_FRAME);
        let pushed = 0;
        let consumed = 0;
        for (const chunk of chunks) {
          pushed += chunk.length;
          let frames: Buffer[];
          try {
            frames = framesOf(decoder, Buffer.from(chunk));
          } catch (error) {
            expect(error).toBeInstanceOf(MilterProtocolError);
            expect((error as MilterProtocolError).code).toBe('FG_ERR_FRAME');
            return;
          }
          for (const f of frames) {
            expect(f.length).toBeGreaterThanOrEqual(1);
            expect(f.length).toBeLessThanOrEqual(MAX_FRAME);
            consumed += 4 + f.length;
          }
          // What the decoder still holds is at most one incomplete packet: a header plus part of its payload.
          expect(pushed - consumed).toBeLessThan(4 + MAX_FRAME);
          expect(decoder.hasPartialFrame).toBe(pushed - consumed > 0);
        }
      }),
      { numRuns: 300 },
    );
  });

  test('a peer that announces one byte too many per packet is stopped at the first header', () => {
    const decoder = new FrameDecoder(MAX_FRAME);
    const evil = frameWithLength(MAX_FRAME + 1);
    expect(() => framesOf(decoder, evil)).toThrow(MilterProtocolError);
  });

  test('a long run of maximal packets is streamed through without error', () => {
    const decoder = new FrameDecoder(MAX_FRAME);
    const wire = frame('B', Buffer.alloc(MAX_FRAME - 1, 0x2e));
    let count = 0;
    for (let i = 0; i < 10_000; i++) count += framesOf(decoder, wire).length;
    expect(count).toBe(10_000);
    expect(decoder.hasPartialFrame).toBe(false);
  });
});
