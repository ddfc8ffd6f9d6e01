import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { startTcpTunnel, RelayProcess } from '../helpers/proc.js';
import { rawAgent } from '../helpers/raw-agent.js';
import { listen, tempHome } from '../helpers/net.js';

t.test('SIGTERM drain: a connection reset meanwhile does not cut the others short', { timeout: 30_000 }, async (t) => {
  const backside: net.Socket[] = []; // the agent's connections to the echo service, in order
  const echo = net.createServer((s) => { backside.push(s); s.pipe(s); s.on('error', () => {}); });
  const echoPort = await listen(echo, t);
  const { relay, tcpPort } = await startTcpTunnel(t, echoPort, ['--drain-timeout', '20000']);
  const conns = [net.connect(tcpPort, '127.0.0.1'), net.connect(tcpPort, '127.0.0.1')];
  for (const c of conns) { c.on('error', () => {}); c.write('one'); await once(c, 'data'); }
  const [rude, polite] = conns;
  relay.child.kill('SIGTERM');
  await relay.waitEvent('relay.draining');
  // A TCP RST: the relay's side of this connection emits 'error' before 'close'.
  rude.resetAndDestroy();
  // The relay has seen it once the reset has travelled through it to the service's side.
  if (!backside[0].closed) await new Promise((r) => backside[0].on('close', r)); // once() would reject on its error
  const got = polite.closed ? 'closed before the drain ended' : await new Promise<string>((resolve) => {
    polite.once('data', (d) => resolve(String(d)));
    polite.once('close', () => resolve('closed before the drain ended'));
    polite.write('two');
  });
  t.equal(got, 'two', 'the other connection still works while draining');
  polite.end();
  const exit = await relay.exited;
  t.equal(exit.code, 0, 'exit 0 once the open connection finished');
});

t.test('SIGTERM: an agent session with an unknown key that never registers does not hold the exit', { timeout: 30_000 }, async (t) => {
  const relay = new RelayProcess(['serve', '--tls-listen', '127.0.0.1:0', '--agent-listen', '127.0.0.1:0', '--admin-listen', 'off',
    '--drain-timeout', '500'], { RELAY_HOME: tempHome() });
  t.teardown(() => relay.stop('SIGKILL'));
  const ready = await relay.waitEvent('relay.ready');
  const a = await rawAgent(String(ready.agent), String(ready.publicKey)); // no [[agents]]: this key is unknown
  await relay.waitEvent('agent.connected');
  relay.child.kill('SIGTERM');
  const exit = await relay.exited;
  t.equal(exit.code, 0, 'the relay exits');
  t.equal(await a.closed, undefined, 'the relay ended the session with the authenticated close');
});
