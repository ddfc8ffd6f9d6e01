import http from 'node:http';
import type { Logger } from '../log.js';
import { type HostPort, formatHostPort, listen } from '../net/index.js';
import { EventHub, StaticAssets, securityHeaders } from '../web/index.js';
import type { ConnectionBook } from './connection-book.js';

/**
 * The agent's inspector (README "Inspector"): `GET /` a page of this agent's connections, live;
 * `GET /api/connections` the same as JSON; `GET /api/events` the page's event stream (`hello`
 * with everything kept, then a `tick` a second with each tunnel's bytes and the connections that
 * changed). Read-only, metadata only. Resolves with the listener, or null when its address cannot
 * be bound (taken by another agent on this machine, say): the agent goes on without it.
 */
export async function startInspector(book: ConnectionBook, addr: HostPort, log: Logger): Promise<{ server: http.Server; address: string; stop: () => void } | null> {
  const assets = new StaticAssets({ '/': 'inspector.html' });
  const hub = new EventHub({ logger: log });
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405, { allow: 'GET' }).end(); return; }
    if (assets.serve(req, res, url)) return;
    if (url === '/api/connections') {
      res.writeHead(200, { ...securityHeaders(), 'content-type': 'application/json', 'cache-control': 'no-store' })
        .end(JSON.stringify({ keep: book.keep, tunnels: book.tunnels, connections: book.list() }, null, 2) + '\n');
    } else if (url === '/api/events') {
      hub.accept(res, { event: 'hello', data: { keep: book.keep, tunnels: book.tunnels, history: book.history(), connections: book.list() } });
    } else {
      res.writeHead(404, { ...securityHeaders(), 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  let address: string;
  try {
    address = await listen(server, addr);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const where = formatHostPort(addr.host, addr.port);
    log.warn({ event: 'inspect.unavailable', address: where, code: err.code, error: err.message },
      `inspector not started: cannot listen on ${where} (${err.code ?? err.message}); the agent goes on without it (--inspect ADDR to choose another, off to disable)`);
    return null;
  }
  const timer = setInterval(() => { const tick = book.tick(hub.size > 0); if (hub.size > 0) hub.send('tick', tick); }, 1_000);
  timer.unref();
  log.info({ event: 'inspect.ready', address }, `inspector on http://${address}/`);
  return { server, address, stop: () => { clearInterval(timer); hub.closeAll(); server.close(); } };
}
