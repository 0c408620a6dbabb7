// The packets one chunk completes, as a list: FrameDecoder hands them to a callback one by one.
import type { Frame, FrameDecoder } from '../../src/milter/frame-decoder';

export function framesOf(decoder: FrameDecoder, chunk: Buffer): Frame[] {
  const frames: Frame[] = [];
  decoder.push(chunk, (frame) => frames.push(frame));
  return frames;
}
