// PROXY protocol from a trusted balancer (issue 12 §2), end to end through the real CLI: HAProxy
// in front of the relay (`send-proxy` and `send-proxy-v2`, a real producer of both versions),
// clients from distinct loopback sources, and an agent that passes what the relay was told on to
// the service in a header of its own, so the service's view is checked, not assumed.
import t, { type Test } from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { startDevRelay, startAgent, portOf, type RelayProcess } from '../helpers/proc.js';
import { startHaproxy } from '../helpers/haproxy.js';
import { freePort, listen, makeCert } from '../helpers/net.js';
import { readProxyHeader } from '../../src/proxy-protocol/index.js';

/** A service behind a v1 header: answers `SOURCE_ADDRESS:PORT\n`, then echoes. */
async function sourceEcho(t: Test): Promise<number> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    readProxyHeader(s).then((h) => {
      s.write(`${h.source ? `${h.source.address}:${h.source.port}` : 'none'}\n`);
      s.pipe(s);
    }, () => s.destroy());
  });
  return listen(server, t);
}

/** Connects to `port` from `from`, optionally writes `first`; resolves with the first line back, or how it ended. */
function firstLine(port: number, from: string, first = ''): Promise<{ line: string; rest: string; local: string; socket: net.Socket }> {
  const s = net.connect({ port, host: '127.0.0.1', localAddress: from });
  s.on('error', () => {});
  if (first) s.write(first);
  return new Promise((resolve) => {
    let got = '';
    const local = (): string => `${s.localAddress}:${s.localPort}`;
    s.on('data', (d: Buffer) => {
      got += d.toString();
      const nl = got.indexOf('\n');
      if (nl >= 0) resolve({ line: got.slice(0, nl), rest: got.slice(nl + 1), local: local(), socket: s });
    });
    s.once('close', () => resolve({ line: got === '' ? 'closed' : got, rest: '', local: '', socket: s }));
  });
}

async function setup(t: Test): Promise<{ relay: RelayProcess; ready: Record<string, unknown>; tcpPort: number; v1: number; v2: number }> {
  const tcpPort = await freePort();
  const { relay, ready } = await startDevRelay(t, ['--tcp-ports', `${tcpPort}-${tcpPort}`, '--proxy-protocol-from', '127.0.0.1/32', '--deny', '127.0.0.9/32']);
  const agent = startAgent(t, ready, ['--no-warmup', '--tcp', `127.0.0.1:${await sourceEcho(t)}`, '--proxy-protocol', 'v1']);
  await agent.waitEvent('tunnel.ready');
  const [v1, v2] = [await freePort(), await freePort()];
  await startHaproxy(t, [
    'frontend fe_v1', `  bind 127.0.0.1:${v1}`, '  default_backend relay_v1',
    'frontend fe_v2', `  bind 127.0.0.1:${v2}`, '  default_backend relay_v2',
    'backend relay_v1', `  server r 127.0.0.1:${tcpPort} send-proxy`,
    'backend relay_v2', `  server r 127.0.0.1:${tcpPort} send-proxy-v2`,
  ]);
  return { relay, ready, tcpPort, v1, v2 };
}

t.test('through a balancer: the header\'s client is the client, for the service and for the address rules', async (t) => {
  const { relay, v1, v2 } = await setup(t);
  const viaV2 = await firstLine(v2, '127.0.0.2');
  t.equal(viaV2.line, viaV2.local, 'v2 from the balancer: the service sees the client\'s own address and port');
  const viaV1 = await firstLine(v1, '127.0.0.3');
  t.equal(viaV1.line, viaV1.local, 'v1 likewise');
  viaV2.socket.write('ping\n');
  let echo = viaV2.rest;
  while (echo.length < 5) echo += String(((await once(viaV2.socket, 'data')) as [Buffer])[0]);
  t.equal(echo, 'ping\n', 'bytes flow both ways after the header');
  const denied = await firstLine(v2, '127.0.0.9');
  t.equal(denied.line, 'closed', 'a denied client behind the balancer is refused, though the balancer itself is trusted');
  const refused = await relay.waitEvent('public.refused', (l) => l.reason === 'ip_denied');
  t.match(String(refused.client), /^127\.0\.0\.9:\d+$/, 'the refusal names the real client');
  for (const c of [viaV1, viaV2]) c.socket.destroy();
});

t.test('from the trusted source without a header: closed as proxy_header; from any other source a header is just bytes', async (t) => {
  const { relay, ready, tcpPort } = await setup(t);
  const bare = await firstLine(tcpPort, '127.0.0.1', 'hello\n');
  t.equal(bare.line, 'closed');
  const refused = await relay.waitEvent('public.refused', (l) => l.reason === 'proxy_header');
  t.match(String(refused.error), /header/i);
  const forged = 'PROXY TCP4 198.51.100.7 203.0.113.1 5555 443\r\n';
  const direct = await firstLine(tcpPort, '127.0.0.2', forged);
  t.equal(direct.line, direct.local, 'an untrusted peer\'s header is not believed: the service sees the real peer');
  let rest = direct.rest;
  while (rest.length < forged.length) rest += String(((await once(direct.socket, 'data')) as [Buffer])[0]);
  t.equal(rest, forged, 'and the header arrives as bytes of the stream');
  direct.socket.destroy();
  const metrics = await (await fetch(`http://${String(ready.admin)}/metrics`)).text();
  t.match(metrics, /relay_public_refused_total\{reason="proxy_header"\} 1\n/);
});

t.test('a TLS route behind the balancer: the ClientHello after the header is read and routed, the handshake completes', async (t) => {
  const cert = makeCert(['lb.example.test']);
  const svc = tls.createServer({ key: cert.key, cert: cert.cert }, (c) => { c.on('error', () => {}); c.end(`hi ${c.servername}\n`); });
  const svcPort = await listen(svc, t);
  const { relay, ready } = await startDevRelay(t, ['--proxy-protocol-from', '127.0.0.1/32']);
  const agent = startAgent(t, ready, ['--no-warmup', '--tls', `lb.example.test=127.0.0.1:${svcPort}`]);
  await agent.waitEvent('tunnel.ready');
  const fe = await freePort();
  await startHaproxy(t, ['frontend fe', `  bind 127.0.0.1:${fe}`, '  default_backend relay', 'backend relay', `  server r 127.0.0.1:${portOf(ready.tls)} send-proxy-v2`]);
  const c = tls.connect({ socket: net.connect({ port: fe, host: '127.0.0.1', localAddress: '127.0.0.4' }), servername: 'lb.example.test', ca: cert.cert });
  const [d] = (await once(c, 'data')) as [Buffer];
  t.equal(d.toString(), 'hi lb.example.test\n');
  c.destroy();
  t.equal(relay.lines.filter((l) => l.event === 'public.refused').length, 0);
});
