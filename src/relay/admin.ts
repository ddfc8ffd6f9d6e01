import http from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { LogLimiter, type Logger } from '../log.js';
import type { StaticAssets } from '../web/index.js';

export interface AdminHandlers {
  /** May answer later, as a promise (a cluster's primary asks its workers). */
  status: () => unknown;
  metrics: () => string | Promise<string>;
  healthy: () => boolean;
  /** The bearer token every path but /healthz requires (read per request: a reload may change it); undefined: none. */
  token: () => string | undefined;
  /** A request refused for its credentials (counted). */
  onRefused: (reason: 'unauthorized') => void;
  /** The dashboard (README "Dashboard"): its static files, and its event stream at `/api/events`. */
  dashboard?: { assets: StaticAssets; events: (res: http.ServerResponse) => void };
}

/**
 * Admin HTTP (loopback by default): `GET /healthz`, `GET /api/tunnels` (JSON), `GET /metrics`
 * (Prometheus text), the dashboard at `GET /` and its event stream `GET /api/events`. Read-only:
 * nothing here changes the relay. With a token, every path but `/healthz` (what a balancer's
 * health check asks, and it tells nothing) and the dashboard's static files (code and layout, no
 * data) needs `Authorization: Bearer TOKEN` (RFC 6750 §2.1); a request without it gets 401.
 */
export function createAdminServer(handlers: AdminHandlers, log: Logger, timeoutMs = 10_000): http.Server {
  const refusals = new LogLimiter(log);
  // Node checks request deadlines every connectionsCheckingInterval (30 s by default): check
  // often enough that a slow request meets its deadline, not three times it.
  const checkEvery = Math.max(100, Math.min(1_000, timeoutMs / 4));
  const server = http.createServer({ connectionsCheckingInterval: checkEvery }, (req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405, { allow: 'GET' }).end(); return; }
    const token = handlers.token();
    const assets = handlers.dashboard?.assets;
    if (assets?.serve(req, res, url)) return;
    if (token !== undefined && url !== '/healthz' && !bearerMatches(req.headers.authorization, token)) {
      handlers.onRefused('unauthorized');
      refusals.warn({ event: 'admin.refused', reason: 'unauthorized', remote: req.socket.remoteAddress, path: url.slice(0, 64) }, 'admin request without the right token');
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="relay"', 'content-type': 'text/plain' }).end('unauthorized\n');
      return;
    }
    const fail = (e: unknown): void => {
      log.error({ event: 'admin.error', err: e }, 'admin request failed');
      if (!res.headersSent) res.writeHead(500).end(); else res.destroy();
    };
    try {
      if (url === '/healthz') {
        const ok = handlers.healthy();
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'draining\n');
      } else if (url === '/api/tunnels') {
        Promise.resolve(handlers.status()).then((v) => {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(v, null, 2) + '\n');
        }, fail);
      } else if (url === '/api/events' && handlers.dashboard) {
        handlers.dashboard.events(res);
      } else if (url === '/metrics') {
        Promise.resolve(handlers.metrics()).then((text) => {
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text);
        }, fail);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    } catch (e) {
      fail(e);
    }
  });
  server.headersTimeout = timeoutMs;
  server.requestTimeout = timeoutMs;
  // A connection that sends nothing, or stays idle between requests, is closed just after the
  // request deadline (so that a slow request hears its 408 first).
  server.timeout = timeoutMs + 2 * checkEvery;
  server.keepAliveTimeout = Math.min(5_000, timeoutMs);
  return server;
}

/** Compares in constant time (for equal lengths), so the token cannot be guessed byte by byte from timing. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer +(\S+) *$/i.exec(header ?? '');
  if (!m) return false;
  const given = Buffer.from(m[1]);
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}
