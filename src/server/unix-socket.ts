// Prepares a unix-domain milter socket: stale file removal, then mode and owner before any MTA connects.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, unlinkSync } from 'node:fs';
import { createConnection } from 'node:net';
import { ListenError } from './errors';

export interface SocketPermissions {
  /** Octal file mode, e.g. 0o660 so that Postfix's group can connect. */
  mode: number;
  owner?: string;
  group?: string;
}

/**
 * Removes a socket file left by a crashed run. A socket that still answers belongs to a running
 * instance: taking it over would silently split the MTA's traffic, so that is an error.
 */
export async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new ListenError(`${path} exists and is not a socket; refusing to replace it`);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new ListenError(`${path} is in use by a running process`);
  unlinkSync(path);
}

/** Applies mode and ownership; called synchronously on 'listening', before the first accept. */
export function applySocketPermissions(path: string, permissions: SocketPermissions): void {
  const uid = permissions.owner === undefined ? -1 : lookupId('passwd', permissions.owner);
  const gid = permissions.group === undefined ? -1 : lookupId('group', permissions.group);
  try {
    if (uid !== -1 || gid !== -1) chownSync(path, uid, gid);
    chmodSync(path, permissions.mode);
  } catch (error) {
    throw new ListenError(`cannot set owner/mode of ${path}: ${(error as Error).message}`);
  }
}

/** Resolves a user or group name through NSS (getent), so LDAP/SSSD accounts work as well. */
function lookupId(database: 'passwd' | 'group', name: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  try {
    const entry = execFileSync('getent', [database, name], { encoding: 'utf8' });
    return Number(entry.split(':')[2]);
  } catch {
    throw new ListenError(`unknown ${database === 'passwd' ? 'user' : 'group'} ${JSON.stringify(name)}`);
  }
}
