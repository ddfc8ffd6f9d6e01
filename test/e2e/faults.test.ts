// Faults on the agent↔relay link: cut (FIN), reset (RST), a black hole, delay. Whatever breaks,
// a public connection through the link ends in a reset (never a clean end), the agent comes back
// on its own, and new connections work again.
import t, { type Test } from 'tap';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { startDevRelay, startAgent, portOf, type RelayProcess } from '../helpers/proc.js';
import { endingOf, freePort, listen, sha256 } from '../helpers/net.js';
import { FaultProxy } from '../../support/index.js';

async function linkThroughProxy(t: Test) {
  const echo = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
  const echoPort = await listen(echo, t);
  const tcpPort = await freePort();
  const { ready } = await startDevRelay(t, ['--tcp-ports', `${tcpPort}-${tcpPort}`]);
  const proxy = await FaultProxy.start(t, portOf(ready.agent));
  const agent = startAgent(t, { ...ready, agent: `127.0.0.1:${proxy.port}` }, ['--no-warmup', '--tcp', `${tcpPort}=127.0.0.1:${echoPort}`]);
  await agent.waitEvent('tunnel.ready');
  return { proxy, agent, tcpPort };
}

/** A public client echoing continuously; resolves with how its connection ended. */
function busyClient(port: number): { ended: Promise<string>; firstEcho: Promise<void> } {
  const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const ended = endingOf(c);
  const timer = setInterval(() => { if (!c.destroyed) c.write(randomBytes(1024)); }, 5);
  c.once('close', () => clearInterval(timer));
  const firstEcho = once(c, 'data').then(() => undefined);
  return { firstEcho, ended };
}

/** After a fault: the agent's link went down and came back, and its tunnel is live again. */
async function recovered(agent: RelayProcess, mark: number): Promise<void> {
  await agent.waitEvent('link.down', () => true, mark);
  await agent.waitEvent('tunnel.ready', () => true, mark);
}

async function echoes(port: number): Promise<boolean> {
  const c = net.connect(port, '127.0.0.1');
  c.on('error', () => {});
  c.write('again');
  const [d] = (await once(c, 'data')) as [Buffer];
  c.destroy();
  return d.toString() === 'again';
}

for (const fault of ['cut', 'reset'] as const) {
  t.test(`link ${fault}: the public client is reset, the agent comes back`, { timeout: 60_000 }, async (t) => {
    const { proxy, agent, tcpPort } = await linkThroughProxy(t);
    const client = busyClient(tcpPort);
    await client.firstEcho;
    const mark = agent.lines.length;
    proxy[fault]();
    t.equal(await client.ended, 'reset', 'the public connection ended in a reset');
    await recovered(agent, mark);
    t.ok(await echoes(tcpPort), 'a new connection works');
  });
}

t.test('link black hole: keepalive notices, the client is reset, the agent comes back', { timeout: 90_000 }, async (t) => {
  const { proxy, agent, tcpPort } = await linkThroughProxy(t);
  const client = busyClient(tcpPort);
  await client.firstEcho;
  const mark = agent.lines.length;
  proxy.drop();
  const down = await agent.waitEvent('link.down', () => true, mark);
  t.equal(down.code, 'KEEPALIVE_TIMEOUT', 'the agent noticed the silence');
  proxy.heal();
  t.equal(await client.ended, 'reset', 'the public connection ended in a reset');
  await agent.waitEvent('tunnel.ready', () => true, mark);
  t.ok(await echoes(tcpPort), 'a new connection works');
});

t.test('a slow link (50 ms each way): a 5 MB transfer arrives intact', { timeout: 60_000 }, async (t) => {
  const { proxy, tcpPort } = await linkThroughProxy(t);
  proxy.delay(50);
  const payload = randomBytes(5 * 1024 * 1024);
  const c = net.connect({ port: tcpPort, host: '127.0.0.1', allowHalfOpen: true });
  const h = createHash('sha256');
  let got = 0;
  c.on('data', (d: Buffer) => { h.update(d); got += d.length; if (got === payload.length) c.end(); });
  c.write(payload);
  await once(c, 'close');
  t.equal(got, payload.length);
  t.equal(h.digest('hex'), sha256(payload), 'every byte, in order');
});
