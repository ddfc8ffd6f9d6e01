import http from 'node:http';
import type { Logger } from '../log.js';

/**
 * Admin HTTP (loopback by default): `GET /healthz`, `GET /api/tunnels` (JSON), `GET /metrics`
 * (Prometheus text). Read-only: nothing here changes the relay.
 */
export function createAdminServer(handlers: { status: () => unknown; metrics: () => string; healthy: () => boolean }, log: Logger): http.Server {
  const server = http.createServer((req, res) => {
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
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  return server;
}
