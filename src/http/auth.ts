// Who is asking: http.auth's bearer tokens and users (HTTP Basic, scrypt hashes), and the CSRF token
// that a page must send back to change anything.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { HttpAuth } from '../config/http-config';
import { verifyPassword } from './password';

/** A checked Basic credential is remembered this long, so a page polling every few seconds costs one scrypt. */
const REMEMBER_MS = 5 * 60_000;
/** At most this many remembered credentials (a guessing client must not grow the map). */
const REMEMBER_MAX = 64;

export type Identity = { user: string } | undefined;

export class HttpAuthenticator {
  private readonly remembered = new Map<string, { user: string; until: number }>();
  /** Per process: a restart invalidates the page's CSRF tokens, which it fetches again. */
  private readonly csrfSecret = randomBytes(32);

  constructor(
    private readonly auth: HttpAuth | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when no credentials are configured: the listener is on loopback or a unix socket, read-only. */
  get open(): boolean {
    return this.auth === undefined;
  }

  /** The caller's identity; undefined when auth is configured and the request does not prove one. */
  async identify(request: IncomingMessage): Promise<Identity> {
    if (!this.auth) return { user: 'local' };
    const header = request.headers.authorization ?? '';
    const space = header.indexOf(' ');
    const scheme = header.slice(0, Math.max(0, space)).toLowerCase();
    const credential = header.slice(space + 1).trim();
    if (scheme === 'bearer') return this.auth.tokens.some((token) => sameText(token, credential)) ? { user: 'token' } : undefined;
    if (scheme !== 'basic') return undefined;
    const fingerprint = createHash('sha256').update(credential).digest('base64');
    const known = this.remembered.get(fingerprint);
    if (known && known.until > this.now()) return { user: known.user };
    const decoded = Buffer.from(credential, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const user = decoded.slice(0, colon);
    const hash = this.auth.users.get(user);
    if (hash === undefined || !(await verifyPassword(decoded.slice(colon + 1), hash))) return undefined;
    if (this.remembered.size >= REMEMBER_MAX) this.remembered.clear();
    this.remembered.set(fingerprint, { user, until: this.now() + REMEMBER_MS });
    return { user };
  }

  /** The token a page sends back in X-CSRF-Token with a POST; bound to the user. */
  csrfToken(user: string): string {
    return createHmac('sha256', this.csrfSecret).update(user).digest('base64url');
  }

  checkCsrf(user: string, token: string | undefined): boolean {
    return token !== undefined && sameText(this.csrfToken(user), token);
  }
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
