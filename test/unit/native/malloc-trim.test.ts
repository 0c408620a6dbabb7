// malloc_trim is bound on glibc (this machine, Debian's) and answers; it never throws.
import { trimMallocHeap } from '../../../src/native/malloc-trim';

test('on glibc it is bound and says whether memory was released', () => {
  const held = Array.from({ length: 2000 }, () => Buffer.allocUnsafeSlow(64 * 1024));
  held.length = 0;
  expect(typeof trimMallocHeap()).toBe('boolean');
  expect(typeof trimMallocHeap()).toBe('boolean');
});
