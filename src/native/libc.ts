// The one loader of native code: koffi required once, libc (and other libraries) bound through it, typed.
import type { Socket } from 'node:net';

/** The libc functions Floodgate binds; each mirrors its C prototype. */
export interface Libc {
  setsockopt(fd: number, level: number, name: number, value: Buffer, length: number): number;
  /** `length` is in/out, as in C: pass `[value.length]`, read back the option's size. */
  getsockopt(fd: number, level: number, name: number, value: Buffer, length: [number]): number;
}

export type LibcBinding = { available: true; libc: Libc } | { available: false; reason: string };

let cached: LibcBinding | undefined;

/**
 * Loads libc through koffi on first use and caches the outcome, good or bad, for the process: a
 * missing or broken koffi is a reason to run without the native calls, never a crash.
 */
export function loadLibc(): LibcBinding {
  cached ??= tryLoad();
  return cached;
}

type Koffi = typeof import('koffi');
let koffiLoaded: { koffi: Koffi } | { reason: string } | undefined;

/** koffi itself, required once, lazily: a missing or unbuildable koffi only disables the native calls. */
function loadKoffi(): { koffi: Koffi } | { reason: string } {
  if (koffiLoaded) return koffiLoaded;
  if (process.platform !== 'linux') {
    koffiLoaded = { reason: `no native calls on ${process.platform} (Linux only)` };
    return koffiLoaded;
  }
  try {
    koffiLoaded = { koffi: require('koffi') as Koffi };
  } catch (error) {
    koffiLoaded = { reason: `koffi cannot be loaded: ${(error as Error).message.split('\n')[0]}` };
  }
  return koffiLoaded;
}

function tryLoad(): LibcBinding {
  const loaded = loadKoffi();
  if ('reason' in loaded) return { available: false, reason: loaded.reason };
  const { koffi } = loaded;
  const failures: string[] = [];
  // glibc's soname first; null (the process itself) finds musl's libc, which node links directly.
  for (const name of ['libc.so.6', null]) {
    try {
      const lib = koffi.load(name);
      const setsockopt = lib.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t length)');
      const getsockopt = lib.func('int getsockopt(int fd, int level, int name, _Out_ void *value, _Inout_ uint32_t *length)');
      return {
        available: true,
        libc: {
          setsockopt: (fd, level, opt, value, length) => setsockopt(fd, level, opt, value, length) as number,
          getsockopt: (fd, level, opt, value, length) => getsockopt(fd, level, opt, value, length) as number,
        },
      };
    } catch (error) {
      failures.push(`${name ?? '(process)'}: ${(error as Error).message}`);
    }
  }
  return { available: false, reason: `libc cannot be bound: ${failures.join('; ')}` };
}

/**
 * The file descriptor under a connected net.Socket, or why there is none. `_handle.fd` is the fd
 * getter of Node's internal TCPWrap/PipeWrap: undocumented, but stable on Unix across many major
 * versions; -1 on Windows and once the handle is closed. Internal, so read defensively.
 */
export function socketFd(socket: Socket): { fd: number } | { reason: string } {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle;
  if (!handle) return { reason: 'the socket has no handle (closed, or not a native socket)' };
  const fd = handle.fd;
  if (typeof fd !== 'number') return { reason: 'the socket handle has no fd field in this Node version' };
  if (fd < 0) return { reason: `the socket handle has no file descriptor (fd ${fd})` };
  return { fd };
}

/** A shared library opened through koffi, or why it could not be. */
export type LibraryBinding = { available: true; lib: import('koffi').LibraryHandle } | { available: false; reason: string };

const libraries = new Map<string, LibraryBinding>();

/**
 * Opens another shared library by soname (libsystemd.so.0 for sd_notify) through koffi on first
 * use and caches the outcome per soname, good or bad, like loadLibc: never a crash.
 */
export function loadLibrary(soname: string): LibraryBinding {
  let binding = libraries.get(soname);
  if (binding === undefined) {
    binding = openLibrary(soname);
    libraries.set(soname, binding);
  }
  return binding;
}

function openLibrary(soname: string): LibraryBinding {
  const loaded = loadKoffi();
  if ('reason' in loaded) return { available: false, reason: loaded.reason };
  try {
    return { available: true, lib: loaded.koffi.load(soname) };
  } catch (error) {
    return { available: false, reason: `${soname} cannot be loaded: ${(error as Error).message}` };
  }
}
