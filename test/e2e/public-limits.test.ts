import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { startTcpTunnel } from '../helpers/proc.js';
import { listen } from '../helpers/net.js';

const echoServer = async (t: { teardown: (fn: () => unknown) => void }) => {
  const echo = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
  const port = await listen(echo, t);
  return port;
};

/** A client from `localAddress` that sends `text` and resolves with the echo, or with 'closed'. */
function echoFrom(port: number, localAddress: string, text: string): Promise<{ socket: net.Socket; reply: string }> {
  const s = net.connect({ port, host: '127.0.0.1', localAddress });
  s.on('error', () => {});
  s.write(text);
  return new Promise((resolve) => {
    s.once('data', (d: Buffer) => resolve({ socket: s, reply: d.toString() }));
    s.once('close', () => resolve({ socket: s, reply: 'closed' }));
  });
}

t.test('the defaults bound one address: 2048 connections, a 30 s first-byte deadline', async (t) => {
  const { ready } = await startTcpTunnel(t, await echoServer(t));
  const status = await (await fetch(`http://${String(ready.admin)}/api/tunnels`)).json() as { limits: Record<string, number> };
  t.match(status.limits, { maxConnsPerIp: 2048, firstByteTimeoutMs: 30_000, maxAgentSessions: 4096, clientHelloTimeoutMs: 10_000, idleTimeoutMs: 0 });
});

t.test('one address at its cap: refused; another address still served', async (t) => {
  const { relay, tcpPort } = await startTcpTunnel(t, await echoServer(t), ['--max-conns-per-ip', '2']);
  const held = [await echoFrom(tcpPort, '127.0.0.2', 'a'), await echoFrom(tcpPort, '127.0.0.2', 'b')];
  t.same(held.map((h) => h.reply), ['a', 'b']);
  const third = await echoFrom(tcpPort, '127.0.0.2', 'c');
  t.equal(third.reply, 'closed', 'the third from the same address is refused');
  const refused = await relay.waitEvent('public.refused', (l) => l.reason === 'per_ip_limit');
  t.match(String(refused.client), /^127\.0\.0\.2:/);
  const other = await echoFrom(tcpPort, '127.0.0.3', 'd');
  t.equal(other.reply, 'd', 'another address is served');
  for (const h of [...held, other]) h.socket.destroy();
});

t.test('a connection that never carries a byte is closed at the first-byte deadline; a live one is not', async (t) => {
  const { relay, tcpPort } = await startTcpTunnel(t, await echoServer(t), ['--first-byte-timeout', '300']);
  const live = await echoFrom(tcpPort, '127.0.0.4', 'hello');
  t.equal(live.reply, 'hello');
  const silent = net.connect({ port: tcpPort, host: '127.0.0.1', localAddress: '127.0.0.5' });
  silent.on('error', () => {});
  await once(silent, 'close');
  const refused = await relay.waitEvent('public.refused', (l) => l.reason === 'no_data');
  t.match(String(refused.client), /^127\.0\.0\.5:/, 'the silent one was closed');
  live.socket.write('still here');
  const [d] = (await once(live.socket, 'data')) as [Buffer];
  t.equal(d.toString(), 'still here', 'the live one, which carried bytes, was not');
  live.socket.destroy();
});
