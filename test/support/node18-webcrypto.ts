// Gives Node 18 the global `crypto` that Node 19 added, before playwright-core loads: without it,
// playwright-core reaches node:crypto through a dynamic import(), which jest's VM refuses unless
// started with --experimental-vm-modules (the suite failed under Debian's Node 18 for it).
import { webcrypto } from 'node:crypto';

const scope = globalThis as { crypto?: unknown };
scope.crypto ??= webcrypto;
