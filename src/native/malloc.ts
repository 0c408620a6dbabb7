// glibc's malloc tuning: malloc_trim(3) and mallopt(3)'s M_ARENA_MAX.
//
// Why: a LevelDB sweep is a burst of reads, deletes and a compaction on libuv's and LevelDB's
// threads; glibc keeps what they freed inside its arenas (one per thread, up to 8 per core), so the
// process's RSS stays at the burst's high-water mark. Measured on the issue 21 soak: one
// malloc_trim(0) after the first sweep gave back ~6 MiB of the ~15 MiB that sweep had raised
// anonymous memory by, and two arenas instead of up to sixteen halved the rest with the same
// throughput. musl and other libcs have neither call: there they are simply not made.
import { loadLibrary } from './libc';

/** Returns true when memory was released, false when none could be, undefined when there is no malloc_trim. */
export type TrimMallocHeap = () => boolean | undefined;

let trim: TrimMallocHeap | undefined;

export function trimMallocHeap(): boolean | undefined {
  trim ??= bindTrim();
  return trim();
}

function bindTrim(): TrimMallocHeap {
  const glibc = loadLibrary('libc.so.6');
  if (!glibc.available) return () => undefined;
  try {
    const mallocTrim = glibc.lib.func('int malloc_trim(size_t pad)');
    return () => (mallocTrim(0) as number) === 1;
  } catch {
    return () => undefined;
  }
}

/** mallopt's parameter number for the arena cap (glibc's malloc.h). */
const M_ARENA_MAX = -8;

/**
 * Caps glibc's malloc arenas at `arenas` unless the environment already chose (MALLOC_ARENA_MAX,
 * or GLIBC_TUNABLES' glibc.malloc.arena_max, which the administrator's word overrides ours).
 * Arenas that threads already hold stay; threads that start later share the capped set. Returns
 * true when the cap was set, undefined when there is no glibc or the environment chose.
 */
export function limitMallocArenas(arenas: number, env: NodeJS.ProcessEnv = process.env): true | undefined {
  if (env.MALLOC_ARENA_MAX !== undefined || env.GLIBC_TUNABLES?.includes('arena_max') === true) return undefined;
  const glibc = loadLibrary('libc.so.6');
  if (!glibc.available) return undefined;
  try {
    const mallopt = glibc.lib.func('int mallopt(int param, int value)');
    return (mallopt(M_ARENA_MAX, arenas) as number) === 1 ? true : undefined;
  } catch {
    return undefined;
  }
}
