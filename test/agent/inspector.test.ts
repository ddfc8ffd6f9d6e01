import t from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { startDevRelay, startAgent, portOf } from '../helpers/proc.js';
import { freePort, listen, makeCert, dial, untilClosed, endingOf } from '../helpers/net.js';
import { openBrowser } from '../helpers/browser.js';
import { waitForLine } from '../helpers/pages.js';

const NAME = 'app.example.test';
const KEEP = 5;
const HOSTILE = '<img src=x onerror=window.pwned=1>';
/** The fields README "Inspector" documents for each connection, in its order. */
const FIELDS = ['id', 'relay', 'tunnel', 'type', 'start', 'end', 'durationMs', 'client', 'server', 'sni', 'alpn', 'bytesIn', 'bytesOut', 'outcome', 'code'];

// A TCP service: reads until the client's FIN, answers three times what it got, and ends; a
// connection whose first byte is `R` is reset instead.
const service = net.createServer({ allowHalfOpen: true }, (s) => {
  let n = 0;
  s.on('error', () => {});
  s.on('data', (c: Buffer) => {
    if (n === 0 && c[0] === 0x52) { s.resetAndDestroy(); return; }
    n += c.length;
  });
  s.on('end', () => s.end(Buffer.alloc(3 * n, 0x61)));
});
const cert = makeCert([NAME]);
const tlsService = tls.createServer({ key: cert.key, cert: cert.cert }, (s) => { s.on('error', () => {}); s.end('hi'); });

t.before(async () => {
  await listen(service, t);
  await listen(tlsService, t);
});

/** One connection through the TCP tunnel: `n` bytes out, then everything back until close. */
async function exchange(port: number, n: number): Promise<number> {
  const s = dial(t, port, { allowHalfOpen: true });
  await once(s, 'connect');
  const closed = untilClosed(s);
  s.end(Buffer.alloc(n, 0x62));
  return (await closed).data.length;
}

t.test('the inspector lists every connection live, with its bytes and how it ended', async (t) => {
  const tcpPort = await freePort();
  const { ready } = await startDevRelay(t, ['--tcp-ports', `${tcpPort}-${tcpPort}`, '--no-warmup']);
  const agent = startAgent(t, ready, ['--tcp', `127.0.0.1:${portOf((service.address() as net.AddressInfo).port)}`,
    '--tls', `${NAME}=127.0.0.1:${(tlsService.address() as net.AddressInfo).port}`, '--inspect', '127.0.0.1:0', '--inspect-keep', String(KEEP), '--no-warmup']);
  const inspect = await agent.waitEvent('inspect.ready');
  await agent.waitEvent('tunnel.ready', (l) => l.type === 'tcp');
  await agent.waitEvent('tunnel.ready', (l) => l.type === 'tls');
  const base = `http://${String(inspect.address)}`;
  const { page, errors } = await openBrowser(t);
  const response = await page.goto(`${base}/`);
  t.match(response?.headers()['content-security-policy'], /default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'/);
  t.equal(response?.headers()['x-content-type-options'], 'nosniff');
  t.match(await page.textContent('.notice'), /agent cannot read it either/, 'the page says what it cannot see');
  await page.waitForSelector('#status.live');

  await t.test('a connection appears within 2 s with its true byte counts', async (t) => {
    const s = dial(t, tcpPort, { allowHalfOpen: true });
    await once(s, 'connect');
    // It shows while still open: the wait starts as the client is connected.
    await page.waitForSelector('tr[data-outcome="open"]', { timeout: 2_000 });
    const closed = untilClosed(s);
    s.end(Buffer.alloc(1000, 0x62));
    t.equal((await closed).data.length, 3000, 'the service answered 3000 bytes');
    const row = await page.waitForSelector('tr[data-outcome="clean"][data-bytes-in="1000"][data-bytes-out="3000"]', { timeout: 2_000 });
    t.match(await row.textContent(), /clean end/);
    t.match(await (await row.$('.c-client'))?.textContent(), /^127\.0\.0\.1:\d+$/, 'the client address as the relay reported it');
  });

  await t.test('a connection the service resets shows as reset by the service, with its code', async (t) => {
    const s = dial(t, tcpPort, { allowHalfOpen: true });
    await once(s, 'connect');
    const closed = untilClosed(s);
    s.write('R');
    t.equal((await closed).ending, 'reset', 'the client saw a reset, not a FIN');
    const row = await page.waitForSelector('tr[data-outcome="service_reset"]', { timeout: 2_000 });
    t.match(await (await row.$('.c-outcome'))?.textContent(), /reset by the service\s*E[A-Z]+/);
  });

  await t.test('a hostile ALPN shows as text and runs nothing', async (t) => {
    const s = tls.connect({ host: '127.0.0.1', port: portOf(ready.tls), servername: NAME, ALPNProtocols: [HOSTILE, 'h2'], rejectUnauthorized: false });
    s.on('error', () => {});
    t.teardown(() => { s.destroy(); });
    await once(s, 'secureConnect');
    const row = await page.waitForSelector('tr[data-id] .c-alpn .alpn', { timeout: 2_000 });
    t.equal(await row.textContent(), HOSTILE, 'the ALPN, as text');
    t.equal(await page.textContent('tr:has(.alpn) .c-sni'), NAME);
    t.equal(await page.evaluate('typeof window.pwned'), 'undefined', 'no script ran');
    t.equal(await page.evaluate('document.querySelectorAll("#connections img").length'), 0, 'no element was made of it');
  });

  await t.test('each tunnel\'s chart draws its throughput', async (t) => {
    await exchange(tcpPort, 20_000);
    const n = await waitForLine(page, 'canvas[data-tunnel="tcp:1"]');
    t.ok(n > 0, 'the "in" line rose above zero');
  });

  await t.test('/api/connections: the documented fields, the newest first, at most --inspect-keep', async (t) => {
    for (let i = 0; i < KEEP; i++) t.equal(await exchange(tcpPort, 10 + i), 3 * (10 + i));
    const body = await (await fetch(`${base}/api/connections`)).json() as { keep: number; connections: Array<Record<string, unknown>> };
    t.equal(body.keep, KEEP);
    t.equal(body.connections.length, KEEP, 'the bound holds: more connections were made than are kept');
    for (const c of body.connections) t.same(Object.keys(c), FIELDS);
    const newest = body.connections[0];
    t.match(newest, { tunnel: 'tcp:1', type: 'tcp', bytesIn: 10 + KEEP - 1, bytesOut: 3 * (10 + KEEP - 1), outcome: 'clean', code: null, sni: null, alpn: [] });
    t.ok(body.connections.every((c, i) => i === 0 || (c.id as number) < (body.connections[i - 1].id as number)), 'newest first');
    await page.waitForSelector(`tr[data-id="${String(newest.id)}"]`, { timeout: 2_000 });
    t.equal(await page.locator('#connections tbody tr').count(), KEEP, 'the page keeps as many');
  });

  await t.test('a second agent whose inspector address is taken says so and serves its tunnels', async (t) => {
    const second = startAgent(t, ready, ['--tls', `other.example.test=127.0.0.1:${(tlsService.address() as net.AddressInfo).port}`, '--inspect', String(inspect.address), '--no-warmup']);
    const warn = await second.waitEvent('inspect.unavailable');
    t.equal(warn.code, 'EADDRINUSE');
    await second.waitEvent('tunnel.ready');
  });

  t.same(errors, [], 'no console errors on the page');
});

type Rec = Record<string, unknown>;

/**
 * The first connection record on the inspector's event stream (the `hello`'s list, then each
 * tick's changes) for which `match` holds: the wait is on the agent's own events, not a poll.
 */
async function recordWhere(base: string, match: (r: Rec) => boolean): Promise<Rec> {
  const ac = new AbortController();
  const res = await fetch(`${base}/api/events`, { signal: ac.signal });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the event stream ended');
      buf += value;
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (data === undefined) continue;
        const body = JSON.parse(data) as { connections?: Rec[]; changed?: Rec[] };
        const hit = (event === 'hello' ? body.connections : body.changed)?.find(match);
        if (hit) return hit;
      }
    }
  } finally {
    ac.abort();
  }
}

t.test('/api/connections tells every way a connection ends, each with its code', async (t) => {
  const [a, b] = [await freePort(), await freePort()];
  const [svcPort, deadPort] = [Math.min(a, b), Math.max(a, b)];
  const dead = await freePort(); // nothing listens there
  const { relay, ready } = await startDevRelay(t, ['--tcp-ports', `${svcPort}-${deadPort}`, '--no-warmup']);
  const agent = startAgent(t, ready, ['--tcp', `${svcPort}=127.0.0.1:${(service.address() as net.AddressInfo).port}`,
    '--tcp', `${deadPort}=127.0.0.1:${dead}`, '--max-local-conns', '1', '--inspect', '127.0.0.1:0', '--no-warmup']);
  const base = `http://${String((await agent.waitEvent('inspect.ready')).address)}`;
  await agent.waitEvent('tunnel.ready', (l) => l.port === svcPort);
  await agent.waitEvent('tunnel.ready', (l) => l.port === deadPort);
  const { tunnels } = await (await fetch(`${base}/api/connections`)).json() as { tunnels: Array<{ id: string; target: string }> };
  const svc = tunnels.find((x) => x.target.endsWith(`:${(service.address() as net.AddressInfo).port}`))!.id;
  const unreachableTunnel = tunnels.find((x) => x.target.endsWith(`:${dead}`))!.id;

  // One connection held open takes the only local socket --max-local-conns allows.
  const held = dial(t, svcPort);
  held.write('x');
  const open = await recordWhere(base, (r) => r.tunnel === svc && r.outcome === 'open');

  dial(t, svcPort).write('y');
  t.match(await recordWhere(base, (r) => r.outcome === 'refused'), { tunnel: svc, code: 'max_local_conns' }, 'past the local cap: refused');

  held.resetAndDestroy();
  t.match(await recordWhere(base, (r) => r.id === open.id && r.outcome !== 'open'), { outcome: 'client_reset', code: 'RST 1', bytesIn: 1 }, 'the client reset it');

  dial(t, deadPort).write('z');
  t.match(await recordWhere(base, (r) => r.outcome === 'unreachable'), { tunnel: unreachableTunnel, code: 'ECONNREFUSED' }, 'the target refused the dial');

  const last = dial(t, svcPort);
  last.write('w');
  const lastOpen = await recordWhere(base, (r) => r.tunnel === svc && r.outcome === 'open' && r.id !== open.id);
  relay.child.kill('SIGKILL');
  t.match(await recordWhere(base, (r) => r.id === lastOpen.id && r.outcome !== 'open'), { outcome: 'relay_reset', code: 'CONNECTION_LOST' }, 'the relay went away');
});

t.test('a connection the agent closes (its idle timeout) is "closed", and the client sees a reset, not an end', async (t) => {
  const tcpPort = await freePort();
  const { ready } = await startDevRelay(t, ['--tcp-ports', `${tcpPort}-${tcpPort}`, '--no-warmup']);
  const agent = startAgent(t, ready, ['--tcp', `${tcpPort}=127.0.0.1:${(service.address() as net.AddressInfo).port}`,
    '--idle-timeout', '300', '--inspect', '127.0.0.1:0', '--no-warmup']);
  const base = `http://${String((await agent.waitEvent('inspect.ready')).address)}`;
  await agent.waitEvent('tunnel.ready');
  const c = dial(t, tcpPort, { allowHalfOpen: true });
  const ending = endingOf(c);
  c.write('x');
  t.match(await recordWhere(base, (r) => r.outcome !== 'open'), { outcome: 'closed', code: null, bytesIn: 1 }, 'closed by the agent, after the byte it carried');
  t.equal(await ending, 'reset', 'a truncated connection never looks complete to the client');
});
