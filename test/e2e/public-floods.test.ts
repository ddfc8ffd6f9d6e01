// Slowloris and idle floods on the public ports, with the default limits: while thousands of
// sockets stall, a legitimate client from another address is served over both routes. Times are
// reported, never asserted (docs/reliability.md has the figures).
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { startDevRelay, startAgent, portOf } from '../helpers/proc.js';
import { freePort, listen } from '../helpers/net.js';
import { buildClientHello } from '../../src/bench/client-hello.js';

const NAME = 'flood.example.test';
const fds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;
const rssMiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

/** Opens `n` connections from `localAddress`, each sending `first` (maybe nothing) and then stalling. */
async function stall(port: number, localAddress: string, n: number, first: Buffer | null): Promise<net.Socket[]> {
  const socks: net.Socket[] = [];
  for (let i = 0; i < n; i += 100) {
    socks.push(...await Promise.all(Array.from({ length: Math.min(100, n - i) }, async () => {
      const s = net.connect({ port, host: '127.0.0.1', localAddress });
      s.on('error', () => {});
      await once(s, 'connect');
      if (first) s.write(first);
      return s;
    })));
  }
  return socks;
}

/** One round trip through a route from a clean address: whether the echo came back, and in how many ms. */
async function legit(port: number, hello: Buffer | null): Promise<{ echoed: boolean; ms: number }> {
  const started = performance.now();
  const c = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.9' });
  c.on('error', () => {});
  const msg = hello ?? Buffer.from('legit');
  let got = 0;
  c.write(msg);
  const echoed = await new Promise<boolean>((resolve) => {
    c.on('data', (d: Buffer) => { got += d.length; if (got >= msg.length) resolve(true); });
    c.on('close', () => resolve(false));
  });
  c.destroy();
  return { echoed, ms: performance.now() - started };
}

t.test('slowloris and idle floods: a legitimate client is still served', { timeout: 120_000 }, async (t) => {
  const echo = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
  const echoPort = await listen(echo, t);
  const tcpPort = await freePort();
  const { relay, ready } = await startDevRelay(t, ['--tcp-ports', `${tcpPort}-${tcpPort}`]);
  const agent = startAgent(t, ready, ['--no-warmup', '--tcp', `${tcpPort}=127.0.0.1:${echoPort}`, '--tls', `${NAME}=127.0.0.1:${echoPort}`]);
  await agent.waitEvent('tunnel.ready', (l) => l.hostname === NAME);
  const tls = portOf(ready.tls);
  const hello = buildClientHello(NAME);
  const before = { tls: await legit(tls, hello), tcp: await legit(tcpPort, null) };
  const rpid = relay.child.pid!; const apid = agent.child.pid!;
  const base = { relayFds: fds(rpid), agentFds: fds(apid), relayRss: rssMiB(rpid), agentRss: rssMiB(apid) };

  // 1000 ClientHellos that never finish (a record header, then nothing), from two addresses, and
  // 1000 idle connections to the TCP tunnel that never send a byte, from two more.
  const attack = [
    ...await stall(tls, '127.0.0.2', 500, Buffer.from([0x16, 0x03, 0x01])),
    ...await stall(tls, '127.0.0.3', 500, Buffer.from([0x16, 0x03, 0x01])),
    ...await stall(tcpPort, '127.0.0.4', 500, null),
    ...await stall(tcpPort, '127.0.0.5', 500, null),
  ];
  t.teardown(() => { for (const s of attack) s.destroy(); });
  const during = { tls: await legit(tls, hello), tcp: await legit(tcpPort, null) };
  t.ok(before.tls.echoed && before.tcp.echoed, 'served before the flood');
  t.ok(during.tls.echoed, 'the legitimate client is served over TLS during the flood');
  t.ok(during.tcp.echoed, 'and over the TCP tunnel');
  t.comment(`legit round trip before: tls ${before.tls.ms.toFixed(1)} ms, tcp ${before.tcp.ms.toFixed(1)} ms; during 2000 stalled sockets: tls ${during.tls.ms.toFixed(1)} ms, tcp ${during.tcp.ms.toFixed(1)} ms`);
  t.comment(`relay fds ${base.relayFds} → ${fds(rpid)}, RSS ${base.relayRss.toFixed(0)} → ${rssMiB(rpid).toFixed(0)} MiB; agent fds ${base.agentFds} → ${fds(apid)}, RSS ${base.agentRss.toFixed(0)} → ${rssMiB(apid).toFixed(0)} MiB`);
  for (const s of attack) s.destroy();
});
