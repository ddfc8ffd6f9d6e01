import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { randomBytes, createHash } from 'node:crypto';
import { startDevRelay, startAgent, startTcpTunnel, RelayProcess, portOf } from '../helpers/proc.js';
import { freePort, listen, sha256, tempHome } from '../helpers/net.js';

/**
 * A target that hashes what it receives and, once the client half-closes, answers with its own
 * random bytes and ends: both directions and both half-closes are checked byte for byte.
 */
function hashingTarget(replyBytes: number) {
  const seen: Array<{ gotHash: string; sentHash: string }> = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    const h = createHash('sha256');
    s.on('data', (d) => h.update(d));
    s.on('end', () => {
      const reply = randomBytes(replyBytes);
      seen.push({ gotHash: h.digest('hex'), sentHash: sha256(reply) });
      s.end(reply);
    });
    s.on('error', () => {});
  });
  return { server, seen };
}

/** Sends `payload`, half-closes, and resolves with the hash of the reply once the far end has ended it. */
async function exchange(port: number, payload: Buffer): Promise<{ replyHash: string }> {
  const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await once(c, 'connect');
  c.end(payload);
  const h = createHash('sha256');
  c.on('data', (d) => h.update(d));
  await once(c, 'end');
  c.destroy();
  return { replyHash: h.digest('hex') };
}

t.test('TCP tunnel: random bytes both ways, half-close, several at once', async (t) => {
  const target = hashingTarget(3 * 1024 * 1024);
  const targetPort = await listen(target.server, t);
  const { tunnel: line, tcpPort } = await startTcpTunnel(t, targetPort);
  t.equal(line.type, 'tcp');
  t.equal(line.port, tcpPort, 'the relay assigned the port from its range');
  t.equal(line.target, `127.0.0.1:${targetPort}`);

  const payloads = Array.from({ length: 4 }, (_, i) => randomBytes((i + 1) * 1024 * 1024 + i));
  const results = await Promise.all(payloads.map((p) => exchange(tcpPort, p)));
  const sentHashes = payloads.map((p) => sha256(p)).sort();
  t.same(target.seen.map((s) => s.gotHash).sort(), sentHashes, 'the target got every byte the clients sent');
  t.same(results.map((r) => r.replyHash).sort(), target.seen.map((s) => s.sentHash).sort(), 'the clients got every byte of the replies');
});

t.test('the bytes between agent and relay never show the plaintext', async (t) => {
  const marker = Buffer.from('PLAINTEXT-MARKER-4f1c9a-do-not-leak');
  const got: Buffer[] = [];
  let targetEnded!: () => void;
  const ended = new Promise<void>((r) => { targetEnded = r; });
  const target = net.createServer((s) => { s.on('data', (d) => got.push(d)); s.on('error', () => {}); s.on('end', () => { targetEnded(); s.end(); }); });
  const targetPort = await listen(target, t);
  const tcpPort = await freePort();
  const { ready } = await startDevRelay(t, ['--tcp-ports', `${tcpPort}-${tcpPort}`]);

  // A recording TCP proxy between the agent and the relay's agent listener.
  const wire: Buffer[] = [];
  const proxy = net.createServer((a) => {
    const b = net.connect(portOf(ready.agent), '127.0.0.1');
    a.on('data', (d) => { wire.push(d); b.write(d); });
    b.on('data', (d) => { wire.push(d); a.write(d); });
    a.on('close', () => b.destroy()); b.on('close', () => a.destroy());
    a.on('error', () => {}); b.on('error', () => {});
  });
  const proxyPort = await listen(proxy, t);
  const agent = startAgent(t, { ...ready, agent: `127.0.0.1:${proxyPort}` }, ['--tcp', `127.0.0.1:${targetPort}`]);
  await agent.waitEvent('tunnel.ready');

  const c = net.connect(tcpPort, '127.0.0.1');
  const payload = Buffer.concat(Array.from({ length: 2000 }, () => marker));
  c.end(payload);
  await once(c, 'close');
  await ended; // the client's FIN reached the target: every byte before it did too
  t.ok(Buffer.concat(got).equals(payload), 'the target got the marker bytes');
  const all = Buffer.concat(wire);
  t.ok(all.length > payload.length, `the proxy saw the traffic (${all.length} bytes)`);
  t.equal(all.indexOf(marker), -1, 'the marker never crossed the wire in the clear');
  t.equal(all.indexOf(marker.subarray(0, 12)), -1, 'nor any part of it');
});

t.test('killing the agent mid-transfer is an error for the client, never a clean end', async (t) => {
  const target = net.createServer((s) => { s.on('data', () => {}); s.on('error', () => {}); s.write(randomBytes(64 * 1024)); });
  const targetPort = await listen(target, t);
  const { relay, agent, tcpPort } = await startTcpTunnel(t, targetPort);

  const c = net.connect(tcpPort, '127.0.0.1');
  let ended = false;
  let errored: Error | null = null;
  c.on('end', () => { ended = true; });
  c.on('error', (e) => { errored = e; });
  await once(c, 'data'); // the stream is live end to end
  const pump = setInterval(() => c.write(randomBytes(16 * 1024)), 1);
  t.teardown(() => clearInterval(pump));
  agent.child.kill('SIGKILL');
  await relay.waitEvent('agent.disconnected');
  if (!c.closed) await new Promise((r) => c.once('close', r)); // once() would reject on the 'error' we expect
  clearInterval(pump);
  t.equal(ended, false, 'no clean end was seen');
  t.ok(errored, `the client saw an error (${(errored as Error | null)?.message})`);
});

t.test('a restarted relay gives the reconnecting agent the same TCP port', async (t) => {
  const echo = net.createServer((s) => { s.pipe(s); s.on('error', () => {}); });
  const echoPort = await listen(echo, t);
  const [agentPort, p1, p2] = [await freePort(), await freePort(), await freePort()];
  const lo = Math.min(p1, p2), hi = Math.max(p1, p2);
  const home = tempHome();
  const args = ['serve', '--allow-any-agent', '--tls-listen', 'off', '--admin-listen', 'off', '--agent-listen', `127.0.0.1:${agentPort}`, '--tcp-ports', `${lo}-${hi}`];
  let relay = new RelayProcess(args, { RELAY_HOME: home });
  t.teardown(() => relay.stop('SIGKILL'));
  const ready = await relay.waitEvent('relay.ready');
  const agent = startAgent(t, ready, ['--tcp', `127.0.0.1:${echoPort}`]);
  const first = await agent.waitEvent('tunnel.ready');
  const port = Number(first.port);
  const mark = agent.lines.length;
  await relay.stop('SIGKILL');
  relay = new RelayProcess(args, { RELAY_HOME: home });
  const again = await relay.waitEvent('relay.ready');
  t.equal(again.publicKey, ready.publicKey, 'the relay kept its key in its state directory');
  const second = await agent.waitEvent('tunnel.ready', () => true, mark);
  t.equal(second.port, port, 'same port after the restart');
  const c = net.connect(port, '127.0.0.1');
  c.end('ping');
  let got = '';
  for await (const d of c) got += d;
  t.equal(got, 'ping');
});

t.test('SIGTERM drains: open connections finish, new ones are refused, exit 0', async (t) => {
  const echo = net.createServer((s) => { s.pipe(s); s.on('error', () => {}); });
  const echoPort = await listen(echo, t);
  const { relay, tcpPort } = await startTcpTunnel(t, echoPort, ['--drain-timeout', '20000']);
  const c = net.connect(tcpPort, '127.0.0.1');
  c.write('one');
  await once(c, 'data');
  relay.child.kill('SIGTERM');
  await relay.waitEvent('relay.draining');
  c.write('two');
  const [d] = (await once(c, 'data')) as [Buffer];
  t.equal(String(d), 'two', 'the open connection still works while draining');
  const late = net.connect(tcpPort, '127.0.0.1');
  late.write('late'); // an echo would answer it, were the connection served
  const lateErr = await new Promise((r) => { late.on('error', r); late.on('close', () => r(null)); late.on('data', () => r('data')); });
  t.not(lateErr, 'data', 'a new connection is not served');
  c.end();
  const exit = await relay.exited;
  t.equal(exit.code, 0);
});

t.test('a local target that refuses: the client is reset, never served a clean end', async (t) => {
  const dead = await freePort(); // nothing listens there
  const { agent, tcpPort } = await startTcpTunnel(t, dead);
  const c = net.connect(tcpPort, '127.0.0.1');
  let ended = false;
  c.on('end', () => { ended = true; });
  const err = await new Promise<Error | null>((r) => { c.once('error', r); c.once('close', () => r(null)); });
  t.ok(err, `the client saw an error (${err?.message})`);
  t.equal(ended, false);
  const line = await agent.waitEvent('target.unreachable');
  t.equal(line.code, 'ECONNREFUSED');
});
