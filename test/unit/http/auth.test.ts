// http.auth: bearer tokens, Basic users with scrypt hashes (a success remembered), and CSRF tokens bound to the user.
import type { IncomingMessage } from 'node:http';
import { HttpAuthenticator } from '../../../src/http/auth';
import { hashPassword, verifyPassword } from '../../../src/http/password';

const TOKEN = 't'.repeat(40);
const request = (authorization?: string) => ({ headers: authorization === undefined ? {} : { authorization } }) as IncomingMessage;
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

test('without auth every request is the local read-only user', async () => {
  const auth = new HttpAuthenticator(undefined);
  expect(auth.open).toBe(true);
  expect(await auth.identify(request())).toEqual({ user: 'local' });
});

test('tokens and users are checked; anything else is refused', async () => {
  const hash = await hashPassword('s3cret passphrase');
  const auth = new HttpAuthenticator({ tokens: [TOKEN], users: new Map([['pm', hash]]) });
  expect(auth.open).toBe(false);
  expect(await auth.identify(request(`Bearer ${TOKEN}`))).toEqual({ user: 'token' });
  expect(await auth.identify(request(`Bearer ${TOKEN}x`))).toBeUndefined();
  expect(await auth.identify(request(basic('pm', 's3cret passphrase')))).toEqual({ user: 'pm' });
  expect(await auth.identify(request(basic('pm', 'wrong')))).toBeUndefined();
  expect(await auth.identify(request(basic('nobody', 's3cret passphrase')))).toBeUndefined();
  expect(await auth.identify(request('Basic !!!'))).toBeUndefined();
  expect(await auth.identify(request('Digest x'))).toBeUndefined();
  expect(await auth.identify(request())).toBeUndefined();
});

test('a checked Basic credential is remembered for five minutes, then checked again', async () => {
  const users = new Map([['pm', await hashPassword('pw')]]);
  let now = 0;
  const auth = new HttpAuthenticator({ tokens: [], users }, () => now);
  expect(await auth.identify(request(basic('pm', 'pw')))).toEqual({ user: 'pm' });
  users.delete('pm'); // were it checked again, it would now fail
  now += 5 * 60_000 - 1;
  expect(await auth.identify(request(basic('pm', 'pw')))).toEqual({ user: 'pm' });
  now += 1;
  expect(await auth.identify(request(basic('pm', 'pw')))).toBeUndefined();
});

test('CSRF tokens are per user and per process', () => {
  const auth = new HttpAuthenticator({ tokens: [TOKEN], users: new Map() });
  const token = auth.csrfToken('pm');
  expect(auth.checkCsrf('pm', token)).toBe(true);
  expect(auth.checkCsrf('other', token)).toBe(false);
  expect(auth.checkCsrf('pm', undefined)).toBe(false);
  expect(new HttpAuthenticator({ tokens: [TOKEN], users: new Map() }).checkCsrf('pm', token)).toBe(false);
});

test('password hashes: salted, verified, and unreadable ones refused without throwing', async () => {
  const [a, b] = [await hashPassword('same'), await hashPassword('same')];
  expect(a).not.toBe(b);
  expect(await verifyPassword('same', a)).toBe(true);
  expect(await verifyPassword('Same', a)).toBe(false);
  expect(await verifyPassword('same', 'plain-text')).toBe(false);
  expect(await verifyPassword('same', a.replace('N=32768', 'N=1073741824'))).toBe(false);
});
