// TCP_QUICKACK (Linux): have the kernel acknowledge what was just read now, not ~40 ms later.
//
// Why: an MTA that writes a packet we never answer (a macro packet, an NR command) and then a small
// second write has that write held by Nagle until our ACK; Linux delays that ACK (delayed-ACK /
// "pingpong" mode) hoping to piggyback it on a reply that never comes. Setting TCP_QUICKACK sends
// a pending ACK at once and leaves pingpong mode, but the kernel re-enters it by itself once we
// reply, so it has to be set again after the reads that need it (man 7 tcp: "not permanent").
import type { Socket } from 'node:net';
import { loadLibc, socketFd } from './libc';

/** IPPROTO_TCP from <netinet/in.h>. */
export const IPPROTO_TCP = 6;
/** TCP_QUICKACK from <netinet/tcp.h> (Linux only). */
export const TCP_QUICKACK = 12;

/** An int 1 in the machine's byte order, allocated once: it is passed on every call. */
const ONE = Buffer.from(new Int32Array([1]).buffer);

/** Why TCP_QUICKACK cannot be used in this process, or undefined when it can. */
export function quickAckUnavailable(): string | undefined {
  const binding = loadLibc();
  return binding.available ? undefined : binding.reason;
}

/** Sets TCP_QUICKACK on fd; false when the binding is unavailable or setsockopt failed. */
export function setQuickAck(fd: number): boolean {
  const binding = loadLibc();
  if (!binding.available || !Number.isInteger(fd) || fd < 0) return false;
  return binding.libc.setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, ONE, ONE.length) === 0;
}

/**
 * Reads TCP_QUICKACK back: true when the socket is out of delayed-ACK (pingpong) mode. Undefined
 * when it cannot be read. Linux reports true for a fresh connection, false once it has replied.
 */
export function getQuickAck(fd: number): boolean | undefined {
  const binding = loadLibc();
  if (!binding.available || !Number.isInteger(fd) || fd < 0) return undefined;
  const value = Buffer.alloc(4);
  if (binding.libc.getsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, value, [value.length]) !== 0) return undefined;
  return new Int32Array(value.buffer, value.byteOffset, 1)[0] !== 0;
}

/** A per-socket "acknowledge now" call, or why the socket cannot have one. */
export type QuickAcker = { ackNow: () => boolean } | { reason: string };

/**
 * Binds TCP_QUICKACK to one TCP socket. The fd is looked up once: it is fixed for the socket's
 * life, and ackNow is only called while the socket is open (from its 'data' handler).
 */
export function quickAckerFor(socket: Socket): QuickAcker {
  const binding = loadLibc();
  if (!binding.available) return { reason: binding.reason };
  const found = socketFd(socket);
  if ('reason' in found) return found;
  const { fd } = found;
  const { setsockopt } = binding.libc;
  return { ackNow: () => setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, ONE, ONE.length) === 0 };
}
