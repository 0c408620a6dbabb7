// `floodgate hash-password`: reads a password (stdin; no echo on a terminal) and prints its scrypt hash for http.auth.users.
import { hashPassword } from '../http/password';

export async function hashPasswordCommand(input: NodeJS.ReadStream, output: NodeJS.WritableStream, errors: NodeJS.WritableStream): Promise<string | undefined> {
  const password = input.isTTY ? await readHidden(input, errors) : await readLine(input);
  if (password.length === 0) return undefined;
  const hash = await hashPassword(password);
  output.write(`${hash}\n`);
  return hash;
}

/** The first line of a pipe (`echo secret | floodgate hash-password`). */
function readLine(input: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    input.setEncoding('utf8');
    input.on('data', (chunk: string) => (text += chunk));
    input.once('end', () => resolve(text.split(/\r?\n/)[0] ?? ''));
    input.once('error', reject);
  });
}

/** Raw mode, no echo, ends at Enter; Ctrl-C gives up. */
function readHidden(input: NodeJS.ReadStream, errors: NodeJS.WritableStream): Promise<string> {
  errors.write('Password: ');
  input.setRawMode(true);
  input.setEncoding('utf8');
  return new Promise((resolve) => {
    let text = '';
    const finish = (value: string) => {
      input.setRawMode(false);
      input.pause();
      input.removeListener('data', onData);
      errors.write('\n');
      resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish(text);
        if (ch === '\u0003') return finish('');
        if (ch === '\u007f') text = text.slice(0, -1);
        else text += ch;
      }
    };
    input.on('data', onData);
    input.resume();
  });
}
