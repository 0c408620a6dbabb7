// connect(2) to a unix socket as another user (setpriv, as root), to test who may talk to a socket.
import { readFileSync } from 'node:fs';
import { runCommand } from './processes';

/** Prints "connected" or "errno N"; python3 because Node has no way to drop privileges for one call. */
const PROBE = 'import socket, sys\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect(sys.argv[1]); print("connected")\nexcept OSError as e:\n    print("errno", e.errno)';

/** What connectAs answers when the socket's or a directory's mode refuses the user. */
export const EACCES = 'errno 13';

/** A group's id from /etc/group; throws naming the group when it is missing. */
export function groupId(group: string): number {
  const line = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith(`${group}:`));
  if (!line) throw new Error(`no group ${group} in /etc/group`);
  return Number(line.split(':')[2]);
}

/**
 * "connected" or "errno N" for connect(2) to `path` as `user` with primary group `group` and
 * exactly the supplementary `groups` (none by default; 'init' for the user's own from /etc/group).
 * Debian's /usr/bin/python3 (install-test-deps.sh installs it): a user switched to cannot run a
 * python3 found in root's PATH (pyenv shims under /root).
 */
export async function connectAs(path: string, user: string, group: string, groups: number[] | 'init' = []): Promise<string> {
  const supplementary = groups === 'init' ? '--init-groups' : groups.length > 0 ? `--groups=${groups.join(',')}` : '--clear-groups';
  const result = await runCommand('setpriv', [`--reuid=${user}`, `--regid=${group}`, supplementary, '--', '/usr/bin/python3', '-c', PROBE, path]);
  if (result.code !== 0) throw new Error(`setpriv ... python3 failed (${result.code}): ${result.stderr}`);
  return result.stdout.trim();
}
