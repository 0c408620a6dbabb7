// glibc's malloc_trim(3): gives the free pages of every malloc arena back to the kernel.
//
// Why: a LevelDB sweep is a burst of reads, deletes and a compaction on libuv's and LevelDB's
// threads; glibc keeps what they freed inside its arenas (one per thread), so the process's RSS
// stays at the burst's high-water mark. Measured on the issue 21 soak: one malloc_trim(0) after the
// first sweep gave back ~6 MiB of the ~15 MiB that sweep had raised anonymous memory by. musl and
// other libcs have no malloc_trim: there it is simply not called.
import { loadLibrary } from './libc';

/** Returns true when memory was released, false when none could be, undefined when there is no malloc_trim. */
export type TrimMallocHeap = () => boolean | undefined;

let bound: TrimMallocHeap | undefined;

export function trimMallocHeap(): boolean | undefined {
  bound ??= bind();
  return bound();
}

function bind(): TrimMallocHeap {
  const glibc = loadLibrary('libc.so.6');
  if (!glibc.available) return () => undefined;
  try {
    const trim = glibc.lib.func('int malloc_trim(size_t pad)');
    return () => (trim(0) as number) === 1;
  } catch {
    return () => undefined;
  }
}
