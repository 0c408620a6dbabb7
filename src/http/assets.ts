// The status page's files (dist/web, built by scripts/build-web.js): read once at start, served from memory.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';

export interface Asset {
  type: string;
  body: Buffer;
  etag: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/**
 * `index.html` at `/`, another page `<name>.html` at `/<name>` (the tracking viewer at /track), every
 * other file at `/assets/<name>`. Only plain names of known types are taken: the table is fixed at
 * start, and no request path ever reaches the file system.
 */
export function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (!type || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) continue;
    const body = readFileSync(join(dir, name));
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    const path = name === 'index.html' ? '/' : name.endsWith('.html') ? `/${name.slice(0, -'.html'.length)}` : `/assets/${name}`;
    assets.set(path, { type, body, etag });
  }
  if (!assets.has('/')) throw new Error(`${dir}: no index.html (run npm run build)`);
  return assets;
}
