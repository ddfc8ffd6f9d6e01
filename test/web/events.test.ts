import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { EventHub } from '../../src/web/index.js';
import { listen, type Teardown } from '../helpers/net.js';
import { captureLogger } from '../helpers/log.js';

/** A listener whose every request opens a stream of `hub`. */
async function hubServer(t: Teardown, hub: EventHub): Promise<number> {
  const server = http.createServer((_req, res) => hub.accept(res, { event: 'hello', data: { n: 0 } }));
  t.teardown(() => { hub.closeAll(); server.closeAllConnections(); });
  return listen(server, t);
}

/** Resolves once `hub` has `n` clients (a close takes a turn of the event loop to reach the server). */
async function clients(hub: EventHub, n: number): Promise<void> {
  while (hub.size !== n) await new Promise((r) => setImmediate(r));
}

t.test('past maxClients a stream is refused with 503, and a closed one frees its place', async (t) => {
  const log = captureLogger();
  const hub = new EventHub({ maxClients: 2, logger: log.logger });
  const port = await hubServer(t, hub);
  const a = new AbortController();
  const first = await fetch(`http://127.0.0.1:${port}/`, { signal: a.signal });
  const second = await fetch(`http://127.0.0.1:${port}/`);
  t.equal(first.status, 200);
  t.equal(second.status, 200);
  t.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 503, 'the third is refused');
  await log.waitEvent('events.refused');
  a.abort();
  await clients(hub, 1);
  t.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 200, 'a place is free again');
});

t.test('a client that does not read is disconnected once its backlog passes the bound', async (t) => {
  const log = captureLogger();
  const hub = new EventHub({ maxBacklog: 64 * 1024, logger: log.logger });
  const port = await hubServer(t, hub);
  // A raw socket that sends its request and never reads: the kernel's buffers fill, then the backlog grows.
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  t.teardown(() => { s.destroy(); });
  s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  s.pause();
  await clients(hub, 1);
  const big = 'x'.repeat(16 * 1024);
  // The kernel's buffers take a few MB at most; 100,000 events of 16 KiB would be 1.6 GB.
  for (let sent = 0; hub.size > 0 && sent < 100_000; sent++) {
    hub.send('tick', big);
    if (sent % 64 === 0) await new Promise((r) => setImmediate(r));
  }
  t.equal(hub.size, 0, 'the slow client was dropped');
  const line = await log.waitEvent('events.dropped');
  t.ok((line.backlog as number) > 64 * 1024, 'after its backlog passed the bound');
});
