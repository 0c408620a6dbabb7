// A stand-in for systemd's notification socket: a unix datagram socket that records what arrives.
// Node has no unix datagram sockets, so a tiny python3 process binds it and prints each datagram.
import { join } from 'node:path';
import { spawnTracked, waitFor, type TrackedProcess } from './processes';

export interface NotifySocket {
  /** The value for NOTIFY_SOCKET. */
  path: string;
  /** Every datagram received so far, in order. */
  messages(): string[];
  /** Resolves with the index of the first message from `from` on that satisfies the predicate. */
  waitForMessage(matches: (message: string) => boolean, timeoutMs?: number, from?: number): Promise<number>;
  close(): Promise<void>;
}

const RECEIVER = `
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)  # a service running as another user must be able to send
print("bound", flush=True)
while True:
    print(json.dumps(s.recv(65536).decode()), flush=True)
`;

export async function startNotifySocket(dir: string): Promise<NotifySocket> {
  const path = join(dir, 'notify.sock');
  let receiver: TrackedProcess;
  try {
    receiver = spawnTracked('python3', ['-c', RECEIVER, path]);
  } catch (error) {
    throw new Error(`python3 is needed to receive systemd notifications in tests: ${(error as Error).message}`);
  }
  await waitFor(() => receiver.output().startsWith('bound\n') || receiver.child.exitCode !== null, 5000, () => `python3 to bind ${path}: ${receiver.output()}`);
  if (receiver.child.exitCode !== null) throw new Error(`python3 could not bind ${path}: ${receiver.output()}`);
  const messages = (): string[] =>
    receiver
      .output()
      .split('\n')
      .slice(1)
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as string);
  return {
    path,
    messages,
    waitForMessage: (matches, timeoutMs = 5000, from = 0) =>
      waitFor(
        () => {
          const index = messages().findIndex((m, i) => i >= from && matches(m));
          return index === -1 ? undefined : index + 1;
        },
        timeoutMs,
        () => `a matching notification after #${from}; got ${JSON.stringify(messages())}`,
        10,
      ).then((oneBased) => oneBased - 1),
    close: async () => {
      await receiver.kill(1000);
    },
  };
}
