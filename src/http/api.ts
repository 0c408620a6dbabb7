// The status page's JSON API: status, timeline, recent answers, top keys, one key, the tracking log
// (filters and one record), and a reset that exists only with http.auth (a POST with the CSRF token).
import type { IncomingMessage } from 'node:http';
import { trackFilter } from '../tracking/track-query';
import type { Operations } from '../ops/operations';
import type { HttpAuthenticator } from './auth';

export interface ApiContext {
  operations: Operations;
  auth: HttpAuthenticator;
  user: string;
  method: string;
  url: URL;
  request: IncomingMessage;
}

/** An answer other than 200, with its message for the client. */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** A reset's body is one key: anything longer is not one. */
const MAX_BODY_BYTES = 4096;
const MAX_KEY_LENGTH = 1024;

export async function apiRoute(c: ApiContext): Promise<unknown> {
  const route = c.url.pathname.slice('/api/'.length);
  if (route === 'reset') return reset(c);
  if (c.method !== 'GET' && c.method !== 'HEAD') throw new HttpProblem(405, 'GET only', { Allow: 'GET, HEAD' });
  const record = /^track\/([0-9]{1,15})$/.exec(route);
  if (record) {
    const found = await c.operations.trackRecord(Number(record[1]));
    if (!found) throw new HttpProblem(404, c.operations.tracking ? `no tracking record ${record[1]}` : 'tracking is off');
    return found;
  }
  const ops = c.operations;
  switch (route) {
    case 'status':
      return {
        ...(await ops.status()),
        keyClasses: ops.keyClasses(),
        canReset: !c.auth.open,
        ...(c.auth.open ? {} : { user: c.user, csrf: c.auth.csrfToken(c.user) }),
      };
    case 'timeline':
      return ops.timeline();
    case 'recent':
      return { answers: ops.recent(count(c.url, 'limit', 100, 500)) };
    case 'top': {
      const keyClass = c.url.searchParams.get('class') ?? undefined;
      if (keyClass !== undefined && !ops.keyClasses().includes(keyClass)) throw new HttpProblem(400, `unknown key class ${JSON.stringify(keyClass)}`);
      return { keyClass: keyClass ?? null, keys: await ops.top(keyClass, count(c.url, 'limit', 20, 100)) };
    }
    case 'track': {
      if (!ops.tracking) throw new HttpProblem(404, 'tracking is off (tracking.backend: off)');
      const q = c.url.searchParams;
      const value = (name: string) => q.get(name) || undefined;
      const filter = trackFilter(
        { from: value('from'), to: value('to'), ip: value('ip'), 'queue-id': value('queue_id'), answer: value('answer'), rule: value('rule'), since: value('since'), until: value('until'), limit: value('limit') ?? '100' },
        Date.now(),
      );
      if (typeof filter === 'string') throw new HttpProblem(400, filter);
      return { records: await ops.track(filter) };
    }
    case 'key': {
      const key = c.url.searchParams.get('key') ?? '';
      if (key.length === 0 || key.length > MAX_KEY_LENGTH) throw new HttpProblem(400, 'key= is required (class:value, e.g. ip:192.0.2.7)');
      const found = await ops.key(key);
      if (!found) throw new HttpProblem(404, `no score for ${key}`);
      return found;
    }
    default:
      throw new HttpProblem(404, 'not found');
  }
}

/** A positive integer query parameter, capped; the default when absent. */
function count(url: URL, name: string, fallback: number, max: number): number {
  const text = url.searchParams.get(name);
  if (text === null) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new HttpProblem(400, `${name} must be a positive integer`);
  return Math.min(n, max);
}

async function reset(c: ApiContext): Promise<unknown> {
  if (c.auth.open) throw new HttpProblem(403, 'resetting a key needs http.auth: the page is read-only without it');
  if (c.method !== 'POST') throw new HttpProblem(405, 'POST only', { Allow: 'POST' });
  // A form on another site cannot set this header, nor send JSON without a preflight.
  if (!c.auth.checkCsrf(c.user, header(c.request, 'x-csrf-token'))) throw new HttpProblem(403, 'missing or wrong X-CSRF-Token');
  if (!(header(c.request, 'content-type') ?? '').startsWith('application/json')) throw new HttpProblem(415, 'send application/json');
  const origin = header(c.request, 'origin');
  if (origin !== undefined && hostOf(origin) !== header(c.request, 'host')) throw new HttpProblem(403, 'cross-origin request');
  const body = await readBody(c.request);
  let key: unknown;
  try {
    key = (JSON.parse(body) as { key?: unknown }).key;
  } catch {
    throw new HttpProblem(400, 'malformed JSON');
  }
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) throw new HttpProblem(400, 'key must be a non-empty string');
  return { key, existed: await c.operations.reset(key, c.user) };
}

function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpProblem(413, 'body too large'));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.once('error', reject);
  });
}
