// Recognises a stream connected to systemd's journal, and the syslog priority prefix journald reads from it.
import { fstatSync } from 'node:fs';

/**
 * True when fd is the journal stream systemd gave the service. systemd.exec(5): JOURNAL_STREAM is
 * the device and inode ("dev:ino") of stdout/stderr when they go to the journal. The variable is
 * inherited by children whose stderr was redirected elsewhere (a pipe, a file), hence the
 * comparison with what fd really is: a priority prefix there would land in the file as text.
 */
export function isJournalStream(fd: number, env: NodeJS.ProcessEnv = process.env): boolean {
  const match = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (!match) return false;
  try {
    // bigint: inode numbers may exceed 2^53.
    const stat = fstatSync(fd, { bigint: true });
    return stat.dev === BigInt(match[1]) && stat.ino === BigInt(match[2]);
  } catch {
    return false; // fd closed: nothing is connected, least of all the journal
  }
}

/** sd-daemon(3) priorities, so that `journalctl -p warning` selects warnings and errors. */
const PRIORITY: Record<string, number> = { error: 3, warn: 4, info: 6, debug: 7 };

/** The `<N>` prefix journald strips from a line and stores as its PRIORITY; winston's other levels count as debug. */
export function journalPrefix(level: string): string {
  return `<${PRIORITY[level] ?? 7}>`;
}
