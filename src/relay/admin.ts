import http from 'node:http';
import type { Logger } from '../log.js';

/**
 * Admin HTTP (loopback by default): `GET /healthz`, `GET /api/tunnels` (JSON), `GET /metrics`
 * (Prometheus text). Read-only: nothing here changes the relay.
 */
export function createAdminServer(handlers: { status: () => unknown; metrics: () => string; healthy: () => boolean }, log: Logger, timeoutMs = 10_000): http.Server {
  // Node checks request deadlines every connectionsCheckingInterval (30 s by default): check
  // often enough that a slow request meets its deadline, not three times it.
  const checkEvery = Math.max(100, Math.min(1_000, timeoutMs / 4));
  const server = http.createServer({ connectionsCheckingInterval: checkEvery }, (req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405, { allow: 'GET' }).end(); return; }
    try {
      if (url === '/healthz') {
        const ok = handlers.healthy();
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'draining\n');
      } else if (url === '/api/tunnels') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(handlers.status(), null, 2) + '\n');
      } else if (url === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(handlers.metrics());
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    } catch (e) {
      log.error({ event: 'admin.error', err: e }, 'admin request failed');
      res.writeHead(500).end();
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
