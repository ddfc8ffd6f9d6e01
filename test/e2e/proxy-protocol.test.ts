// PROXY protocol to the service (issue 12), end to end through the real CLI: public clients from
// distinct loopback sources (127.0.0.2, 127.0.0.3) → relay → agent → HAProxy with `accept-proxy`
// (a real consumer of v1 and v2) → a service behind it, to which HAProxy passes what it parsed in
// its own v2 header (`send-proxy-v2`, with the authority). The service answers each client with
// that, so each client checks that the service saw exactly its own address and port.
import t from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Duplex } from 'node:stream';
import { startDevRelay, startAgent, portOf } from '../helpers/proc.js';
import { startHaproxy } from '../helpers/haproxy.js';
import { freePort, listen, makeCert, tempHome, type Teardown, type TestCert } from '../helpers/net.js';
import { readProxyHeader, PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY } from '../../src/proxy-protocol/index.js';

/**
 * HAProxy with `frontends` (name → port) each taking the PROXY protocol and passing connections,
 * with a v2 header of HAProxy's own, to the service at `servicePort`.
 */
async function startConsumer(t: Teardown, frontends: Record<string, number>, servicePort: number): Promise<void> {
  await startHaproxy(t, [
    ...Object.entries(frontends).flatMap(([name, port]) => [`frontend ${name}`, `  bind 127.0.0.1:${port} accept-proxy`, '  default_backend service']),
    'backend service', `  server s1 127.0.0.1:${servicePort} send-proxy-v2 proxy-v2-options authority`,
  ]);
}

/** What the service read in the PROXY header in front of a connection. */
interface Seen { command: string; source?: { address: string; port: number }; destination?: { address: string; port: number }; authority: string | null; alpn: string | null }

/**
 * The service: reads a PROXY header with the project's reader, then (over TLS, when `cert` is
 * given, terminated here) waits for one line and answers `JSON(what the header said)\n` + the
 * line, and ends.
 */
async function service(t: Teardown, cert?: TestCert): Promise<number> {
  const server = net.createServer((s) => {
    readProxyHeader(s).then((h) => {
      const seen: Seen = { command: h.command, source: h.source, destination: h.destination,
        authority: h.tlvs.get(PP2_TYPE_AUTHORITY)?.toString() ?? null, alpn: h.tlvs.get(PP2_TYPE_ALPN)?.toString() ?? null };
      // TLS over the socket's stream (data events), which holds the bytes after the header.
      const io = cert ? new tls.TLSSocket(Duplex.from({ readable: s, writable: s }),
        { isServer: true, secureContext: tls.createSecureContext({ key: cert.key, cert: cert.cert }), ALPNProtocols: ['h2', 'http/1.1'] }) : s;
      io.on('error', () => s.destroy());
      let got = '';
      io.setEncoding('utf8').on('data', (d: string) => {
        got += d;
        if (got.endsWith('\n')) io.end(`${JSON.stringify(seen)}\n${got}`);
      });
      io.resume(); // readProxyHeader leaves the socket paused
    }, () => s.destroy());
  });
  return listen(server, t);
}

/** One client from `localAddress`: sends a line, returns what the service saw and its echo. */
async function ask(t: Teardown, connect: () => net.Socket, ready: string): Promise<{ seen: Seen; echoed: boolean; local: { address: string; port: number }; socket: net.Socket }> {
  const c = connect();
  c.on('error', () => {});
  t.teardown(() => c.destroy());
  await once(c, ready);
  const line = `hello ${randomBytes(12).toString('hex')}\n`;
  c.write(line);
  let got = '';
  c.setEncoding('utf8').on('data', (d: string) => { got += d; });
  await once(c, 'end');
  const nl = got.indexOf('\n');
  return { seen: JSON.parse(got.slice(0, nl)) as Seen, echoed: got.slice(nl + 1) === line, local: { address: c.localAddress!, port: c.localPort! }, socket: c };
}

t.test('TCP tunnels, v1 and v2, through HAProxy accept-proxy: each client is seen as itself', async (t) => {
  const servicePort = await service(t);
  const feV1 = await freePort();
  const feV2 = await freePort();
  await startConsumer(t, { fe_v1: feV1, fe_v2: feV2 }, servicePort);
  const tcpPort = await freePort();
  const { ready } = await startDevRelay(t, ['--tcp-ports', `${tcpPort}-${tcpPort + 1}`]);
  // v2 from a table in the config file, v1 from the flags (which apply to the flags' tunnel only).
  const home = tempHome(t);
  writeFileSync(join(home, 'agent.toml'), `tcp = [{ target = "127.0.0.1:${feV2}", proxy_protocol = "v2" }]\n`);
  const agent = startAgent(t, ready, ['--no-warmup', '--config', join(home, 'agent.toml'), '--tcp', `127.0.0.1:${feV1}`, '--proxy-protocol', 'v1'], home);
  const v1Port = Number((await agent.waitEvent('tunnel.ready', (l) => l.target === `127.0.0.1:${feV1}`)).port);
  const v2Port = Number((await agent.waitEvent('tunnel.ready', (l) => l.target === `127.0.0.1:${feV2}`)).port);

  for (const [version, port] of [['v1', v1Port], ['v2', v2Port]] as const) {
    const answers = await Promise.all(['127.0.0.2', '127.0.0.3'].map((localAddress) =>
      ask(t, () => net.connect({ host: '127.0.0.1', port, localAddress }), 'connect')));
    for (const a of answers) {
      t.ok(a.local.address === '127.0.0.2' || a.local.address === '127.0.0.3', `${version}: the client is bound to ${a.local.address}`);
      t.same(a.seen.source, a.local, `${version}: the service saw the client ${a.local.address}:${a.local.port} as HAProxy parsed it`);
      t.same(a.seen.destination, { address: '127.0.0.1', port }, `${version}: and the relay's public address as the destination`);
      t.equal(a.seen.command, 'proxy');
      t.ok(a.echoed, `${version}: the bytes after the header arrived verbatim`);
    }
    t.not(answers[0].seen.source?.address, answers[1].seen.source?.address, `${version}: two clients, two sources`);
  }
});

t.test('TLS tunnel, v2: HAProxy passes on source and SNI; the handshake completes with the ClientHello verbatim', async (t) => {
  const NAME = 'app.pp.test';
  const cert = makeCert([NAME, `direct.${NAME}`]);
  const servicePort = await service(t, cert);
  const fe = await freePort();
  await startConsumer(t, { fe_tls: fe }, servicePort);
  const directPort = await service(t, cert); // the agent's own header, read by the project's reader: the ALPN TLV
  const { ready } = await startDevRelay(t);
  const agent = startAgent(t, ready, ['--no-warmup', '--tls', `${NAME}=127.0.0.1:${fe}`, '--tls', `direct.${NAME}=127.0.0.1:${directPort}`, '--proxy-protocol', 'v2']);
  await agent.waitEvent('tunnel.ready', (l) => l.hostname === NAME);
  await agent.waitEvent('tunnel.ready', (l) => l.hostname === `direct.${NAME}`);
  const tlsPort = portOf(ready.tls);
  const client = (servername: string, localAddress: string) => () =>
    // The TCP socket bound to its source first (tls.connect's options do not carry localAddress).
    tls.connect({ socket: net.connect({ host: '127.0.0.1', port: tlsPort, localAddress }), servername, ca: cert.cert, ALPNProtocols: ['h2', 'http/1.1'] });

  for (const localAddress of ['127.0.0.2', '127.0.0.3']) {
    const a = await ask(t, client(NAME, localAddress), 'secureConnect');
    const s = a.socket as tls.TLSSocket;
    t.equal(a.local.address, localAddress, `${localAddress}: the client is bound to it`);
    t.ok(s.authorized, `${localAddress}: the service's own certificate verified`);
    t.equal(s.alpnProtocol, 'h2', `${localAddress}: ALPN negotiated with the service, as offered`);
    t.same(a.seen.source, a.local, `${localAddress}: HAProxy passed on the client ${a.local.address}:${a.local.port}`);
    t.same(a.seen.destination, { address: '127.0.0.1', port: tlsPort }, `${localAddress}: and the relay's TLS listener as the destination`);
    t.equal(a.seen.authority, NAME, `${localAddress}: HAProxy passed on PP2_TYPE_AUTHORITY, the SNI`);
    t.ok(a.echoed, `${localAddress}: application data both ways`);
  }
  const d = await ask(t, client(`direct.${NAME}`, '127.0.0.3'), 'secureConnect');
  t.same(d.seen.source, { address: '127.0.0.3', port: d.local.port }, 'the agent\'s own header: the client');
  t.same(d.seen.destination, { address: '127.0.0.1', port: tlsPort });
  t.equal(d.seen.authority, `direct.${NAME}`);
  t.equal(d.seen.alpn, 'h2', 'PP2_TYPE_ALPN: the client\'s first protocol');
  t.equal((d.socket as tls.TLSSocket).alpnProtocol, 'h2');
  t.ok(d.echoed);
});
