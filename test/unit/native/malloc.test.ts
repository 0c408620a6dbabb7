// malloc_trim and mallopt are bound on glibc (this machine, Debian's) and answer; they never throw.
import { limitMallocArenas, trimMallocHeap } from '../../../src/native/malloc';

test('on glibc malloc_trim is bound and says whether memory was released', () => {
  const held = Array.from({ length: 2000 }, () => Buffer.allocUnsafeSlow(64 * 1024));
  held.length = 0;
  expect(typeof trimMallocHeap()).toBe('boolean');
  expect(typeof trimMallocHeap()).toBe('boolean');
});

test('the arena cap is set on glibc, and left to the administrator when the environment sets one', () => {
  expect(limitMallocArenas(2, {})).toBe(true);
  expect(limitMallocArenas(2, { MALLOC_ARENA_MAX: '4' })).toBeUndefined();
  expect(limitMallocArenas(2, { GLIBC_TUNABLES: 'glibc.malloc.arena_max=4' })).toBeUndefined();
});
