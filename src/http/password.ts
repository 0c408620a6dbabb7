// Password hashes for http.auth users: node:crypto's scrypt, salted, in a self-describing string.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * N=2^15, r=8, p=1: OWASP's recommended scrypt floor (2023), ~60 ms and 32 MiB per check here;
 * a check happens once per user and password, then a successful one is remembered (auth.ts).
 */
const COST = { N: 32768, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
/** The memory scrypt needs is 128 * N * r bytes; allow it with room for parameters read from a hash. */
const MAX_MEMORY = 256 * 1024 * 1024;

function derive(password: string, salt: Buffer, options: ScryptOptions, bytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password.normalize('NFC'), salt, bytes, { ...options, maxmem: MAX_MEMORY }, (error, key) => (error ? reject(error) : resolve(key))));
}

/** `$scrypt$N=32768,r=8,p=1$<salt>$<hash>`, base64: what http.auth.users[].password_hash holds. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, COST, KEY_BYTES);
  return `$scrypt$N=${COST.N},r=${COST.r},p=${COST.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** False for a wrong password and for a hash this code cannot read (never throws on either). */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const match = /^\$scrypt\$N=([0-9]+),r=([0-9]+),p=([0-9]+)\$([A-Za-z0-9+/]+=*)\$([A-Za-z0-9+/]+=*)$/.exec(encoded);
  if (!match) return false;
  const [N, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const expected = Buffer.from(match[5]!, 'base64');
  if (expected.length < 16 || 128 * N * r > MAX_MEMORY) return false;
  try {
    const key = await derive(password, Buffer.from(match[4]!, 'base64'), { N, r, p }, expected.length);
    return timingSafeEqual(key, expected);
  } catch {
    return false;
  }
}
