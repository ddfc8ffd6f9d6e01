import t, { type Test } from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RelayProcess, runRelay, startAgent, startDevRelay, portOf } from '../helpers/proc.js';
import { freePort, listen, makeCert, tempHome } from '../helpers/net.js';

/** An echo service that counts the connections it is given: a refused client must never add one. */
async function countingEcho(t: Test): Promise<{ port: number; seen: string[] }> {
  const seen: string[] = [];
  const server = net.createServer((s) => { seen.push(`${s.remoteAddress}`); s.on('error', () => {}); s.pipe(s); });
  return { port: await listen(server, t), seen };
}

/** Connects from `localAddress`, writes `text`; resolves with the echo, or how the connection ended. */
function tryEcho(port: number, localAddress: string, text: string): Promise<string> {
  const s = net.connect({ port, host: '127.0.0.1', localAddress });
  s.write(text);
  return new Promise((resolve) => {
    s.once('data', (d: Buffer) => { resolve(d.toString()); s.destroy(); });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(`error:${e.code}`));
    s.once('close', () => resolve('closed'));
  });
}

async function tcpTunnel(t: Test, relayExtra: string[], agentExtra: string[] = []): Promise<{ relay: RelayProcess; ready: Record<string, unknown>; port: number; seen: string[] }> {
  const svc = await countingEcho(t);
  const port = await freePort();
  const { relay, ready } = await startDevRelay(t, ['--tcp-ports', `${port}-${port}`, ...relayExtra]);
  const agent = startAgent(t, ready, ['--tcp', `127.0.0.1:${svc.port}`, ...agentExtra]);
  await agent.waitEvent('tunnel.ready');
  return { relay, ready, port, seen: svc.seen };
}

async function metric(admin: unknown, name: string): Promise<number> {
  const text = await (await fetch(`http://${String(admin)}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? NaN : Number(line.split(' ')[1]);
}

t.test('relay-wide deny: a TCP client from a denied block is reset and never reaches the service; others pass', async (t) => {
  const { relay, ready, port, seen } = await tcpTunnel(t, ['--deny', '127.0.0.2/32', '--deny', '2001:db8::/32']);
  t.match(await tryEcho(port, '127.0.0.2', 'x'), /^error:ECONNRESET$/, 'the denied client is reset');
  const refused = await relay.waitEvent('public.refused', (l) => l.reason === 'ip_denied');
  t.match(String(refused.client), /^127\.0\.0\.2:/);
  t.equal(await tryEcho(port, '127.0.0.3', 'hello'), 'hello', 'another address is served');
  t.same(seen, ['127.0.0.1'], 'the service saw one connection (the agent dials from loopback): the allowed one');
  t.equal(await metric(ready.admin, 'relay_public_refused_total{reason="ip_denied"}'), 1);
  const status = await (await fetch(`http://${String(ready.admin)}/api/tunnels`)).json() as { limits: Record<string, unknown> };
  t.same(status.limits.deny, ['127.0.0.2/32', '2001:db8::/32']);
});

t.test('relay-wide allow: only the listed block gets in', async (t) => {
  const { relay, port, seen } = await tcpTunnel(t, ['--allow', '127.0.0.4/31']);
  t.equal(await tryEcho(port, '127.0.0.5', 'in'), 'in');
  t.match(await tryEcho(port, '127.0.0.6', 'out'), /^error:ECONNRESET$/);
  await relay.waitEvent('public.refused', (l) => l.reason === 'ip_denied' && String(l.client).startsWith('127.0.0.6:'));
  t.equal(seen.length, 1);
});

t.test('the agent narrows: its --allow and --deny travel with the tunnel and can take away, never add', async (t) => {
  const { relay, ready, port, seen } = await tcpTunnel(t, ['--deny', '127.0.0.7/32'], ['--allow', '127.0.0.0/29', '--allow', '127.0.0.7', '--deny', '127.0.0.3/32']);
  const status = await (await fetch(`http://${String(ready.admin)}/api/tunnels`)).json() as { tunnels: Array<{ agents: Array<Record<string, unknown>> }> };
  t.match(status.tunnels[0].agents[0], { allow: ['127.0.0.0/29', '127.0.0.7/32'], deny: ['127.0.0.3/32'] }, 'the relay shows what the agent asked for');
  t.equal(await tryEcho(port, '127.0.0.2', 'a'), 'a', 'inside the agent\'s allow');
  t.match(await tryEcho(port, '127.0.0.3', 'b'), /^error:ECONNRESET$/, 'in the agent\'s deny');
  t.match(await tryEcho(port, '127.0.0.9', 'c'), /^error:ECONNRESET$/, 'outside the agent\'s allow');
  t.match(await tryEcho(port, '127.0.0.7', 'd'), /^error:ECONNRESET$/, 'the agent\'s allow cannot lift the relay\'s deny');
  await relay.waitEvent('public.refused', (l) => String(l.client).startsWith('127.0.0.7:')); // log lines arrive after the reset
  const reasons = relay.lines.filter((l) => l.event === 'public.refused').map((l) => l.reason);
  t.same(reasons, ['ip_denied', 'ip_denied', 'ip_denied']);
  t.equal(seen.length, 1, 'only the admitted client reached the service');
});

t.test('rates: per source address, then per tunnel; over the rate is refused as rate_limited', async (t) => {
  // 0.05/s: a burst of one, then one token every 20 s, so the second connection is over the rate whatever the machine's speed.
  const perIp = await tcpTunnel(t, ['--conn-rate-per-ip', '0.05']);
  t.equal(await tryEcho(perIp.port, '127.0.0.2', '1'), '1');
  t.match(await tryEcho(perIp.port, '127.0.0.2', '2'), /^error:ECONNRESET$/);
  await perIp.relay.waitEvent('public.refused', (l) => l.reason === 'rate_limited');
  t.equal(await tryEcho(perIp.port, '127.0.0.3', '3'), '3', 'another address has its own bucket');

  const perTunnel = await tcpTunnel(t, ['--conn-rate-per-tunnel', '0.05']);
  t.equal(await tryEcho(perTunnel.port, '127.0.0.2', '1'), '1');
  t.match(await tryEcho(perTunnel.port, '127.0.0.3', '2'), /^error:ECONNRESET$/, 'the tunnel\'s bucket is shared by all addresses');
  await perTunnel.relay.waitEvent('public.refused', (l) => l.reason === 'rate_limited');
  t.equal(perTunnel.seen.length, 1);
});

t.test('unfinished ClientHellos per address are capped; another address is still served', async (t) => {
  const { relay, ready } = await startDevRelay(t, ['--max-pending-per-ip', '2']);
  const tlsPort = portOf(ready.tls);
  const silent = [0, 1].map(() => net.connect({ port: tlsPort, host: '127.0.0.1', localAddress: '127.0.0.2' }));
  for (const s of silent) { s.on('error', () => {}); t.teardown(() => s.destroy()); await once(s, 'connect'); }
  const third = net.connect({ port: tlsPort, host: '127.0.0.1', localAddress: '127.0.0.2' });
  third.on('error', () => {});
  await once(third, 'close');
  const refused = await relay.waitEvent('public.refused', (l) => l.reason === 'pending_limit');
  t.match(String(refused.client), /^127\.0\.0\.2:/);
  // From another address a ClientHello still gets read (and, with no such tunnel, an alert).
  const other = tls.connect({ socket: net.connect({ port: tlsPort, host: '127.0.0.1', localAddress: '127.0.0.3' }), servername: 'nobody.example.test' });
  const [err] = (await once(other, 'error')) as [Error];
  t.match(err.message, /unrecognized name/i);
  await relay.waitEvent('public.refused', (l) => l.reason === 'unknown_name');
});

t.test('per-key limits from [[agents]]: deny on the key caps its TLS tunnel; a refused TLS client gets a close, no alert', async (t) => {
  const home = tempHome(t);
  const key = join(home, 'a.key');
  const gen = await runRelay(['keygen', '--out', key]);
  t.equal(gen.code, 0);
  const cert = makeCert(['app.example.test']);
  const svcSeen: string[] = [];
  const svc = tls.createServer({ key: cert.key, cert: cert.cert }, (c) => { svcSeen.push('x'); c.on('error', () => {}); c.end('served'); });
  const svcPort = await listen(svc, t);
  const config = join(home, 'relay.toml');
  writeFileSync(config, `tls_listen = "127.0.0.1:0"\nagent_listen = "127.0.0.1:0"\nadmin_listen = "127.0.0.1:0"\n
[[agents]]
name = "app"
key = "${gen.stdout.trim()}"
hosts = ["app.example.test"]
deny = ["127.0.0.2"]
conn_rate_per_ip = 100
`);
  const relay = new RelayProcess(['serve', '--config', config], { RELAY_HOME: home });
  t.teardown(() => relay.stop('SIGKILL'));
  const ready = await relay.waitEvent('relay.ready');
  const agent = startAgent(t, ready, ['--key', key, '--tls', `app.example.test=127.0.0.1:${svcPort}`]);
  await agent.waitEvent('tunnel.ready');
  const tlsPort = portOf(ready.tls);
  const hello = (from: string) => new Promise<string>((resolve) => {
    const c = tls.connect({ socket: net.connect({ port: tlsPort, host: '127.0.0.1', localAddress: from }), servername: 'app.example.test', ca: cert.cert });
    let got = '';
    c.on('data', (d) => { got += d; });
    c.on('end', () => resolve(got));
    c.on('error', (e: NodeJS.ErrnoException) => resolve(`error:${e.code ?? e.message}`));
  });
  t.equal(await hello('127.0.0.3'), 'served');
  const denied = await hello('127.0.0.2');
  t.equal(denied, '', 'a plain close after the ClientHello: no byte back, so no alert that would confirm the name');
  const refused = await relay.waitEvent('public.refused', (l) => l.reason === 'ip_denied');
  t.equal(refused.sni, 'app.example.test');
  t.equal(svcSeen.length, 1, 'the denied client never reached the service');
});
