import type http from 'node:http';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/**
 * Every response of a page's listener carries these: scripts, styles and connections from the
 * listener itself only, no inline script or style, no framing (clickjacking), no MIME sniffing.
 */
export function securityHeaders(): Record<string, string> {
  return {
    'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
  };
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml',
};

interface Asset { type: string; body: Buffer; gzip: Buffer }

/**
 * The files of `assets/` (next to this module: src/web/assets, copied to dist/web/assets by the
 * build), read once at start and kept in memory with their gzip form. They hold code and layout,
 * never data: a page fetches its data from an API path, which is where access rules apply.
 */
export class StaticAssets {
  private readonly files = new Map<string, Asset>();

  /** `pages`: URL path → file name for the HTML pages (e.g. `/` → `dashboard.html`); every other file is `/assets/NAME`. */
  constructor(pages: Record<string, string>, dir = fileURLToPath(new URL('./assets/', import.meta.url))) {
    const byName = new Map<string, Asset>();
    for (const name of readdirSync(dir)) {
      const ext = name.slice(name.lastIndexOf('.'));
      const type = TYPES[ext];
      if (type === undefined) continue;
      const body = readFileSync(`${dir}/${name}`);
      byName.set(name, { type, body, gzip: gzipSync(body, { level: 9 }) });
    }
    for (const [name, a] of byName) if (!name.endsWith('.html')) this.files.set(`/assets/${name}`, a);
    for (const [path, name] of Object.entries(pages)) {
      const a = byName.get(name);
      if (a === undefined) throw new Error(`web asset ${name} is missing from ${dir}`);
      this.files.set(path, a);
    }
  }

  /** Whether `path` is one of the static files (served without credentials). */
  has(path: string): boolean { return this.files.has(path); }

  /** Answers a GET or HEAD for a static file; false when `path` is not one. */
  serve(req: http.IncomingMessage, res: http.ServerResponse, path: string): boolean {
    const a = this.files.get(path);
    if (a === undefined) return false;
    const gz = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gz ? a.gzip : a.body;
    res.writeHead(200, {
      ...securityHeaders(),
      'content-type': a.type,
      'content-length': body.length,
      'cache-control': 'no-cache',
      vary: 'accept-encoding',
      ...(gz ? { 'content-encoding': 'gzip' } : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  }
}
