import t, { type Test } from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RelayProcess, runRelay, startAgent, portOf } from '../helpers/proc.js';
import { listen, makeCert, tempHome } from '../helpers/net.js';

const NAME = 'pool.example.test';
const cert = makeCert([NAME, 'other.example.test']);

/** A TLS service that answers with its own label, so a test can tell which agent served it. */
async function labelledService(t: Test, label: string): Promise<number> {
  const s = tls.createServer({ key: cert.key, cert: cert.cert }, (c) => { c.on('error', () => {}); c.end(label); });
  return listen(s, t);
}

async function keygen(dir: string, name: string): Promise<{ path: string; pub: string }> {
  const path = join(dir, `${name}.key`);
  const r = await runRelay(['keygen', '--out', path]);
  if (r.code !== 0) throw new Error(r.stderr);
  return { path, pub: r.stdout.trim() };
}

/** One TLS connection through the relay; resolves with what the service said, or the error code. */
async function fetchLabel(port: number, servername: string): Promise<string> {
  const c = tls.connect({ host: '127.0.0.1', port, servername, ca: cert.cert });
  return new Promise((resolve) => {
    let got = '';
    c.on('data', (d) => { got += d; });
    c.on('end', () => resolve(got));
    c.on('error', (e: Error & { code?: string }) => resolve(`error:${e.code ?? e.message}`));
  });
}

t.test('config grants: shared names spread over agents, unauthorized keys and names refused', async (t) => {
  const home = tempHome();
  const a = await keygen(home, 'a');
  const b = await keygen(home, 'b');
  const stranger = await keygen(home, 'stranger');
  const config = join(home, 'relay.toml');
  writeFileSync(config, `
tls_listen = "127.0.0.1:0"
agent_listen = "127.0.0.1:0"
admin_listen = "off"

[[agents]]
name = "alpha"
key = "${a.pub}"
hosts = ["${NAME}"]

[[agents]]
name = "beta"
key = "${b.pub}"
hosts = ["*.example.test"]
`);
  const relay = new RelayProcess(['serve', '--config', config], { RELAY_HOME: home });
  t.teardown(() => relay.stop('SIGKILL'));
  const ready = await relay.waitEvent('relay.ready');
  const port = portOf(ready.tls);

  const agentA = startAgent(t, ready, ['--key', a.path, '--tls', `${NAME}=127.0.0.1:${await labelledService(t, 'A')}`]);
  const agentB = startAgent(t, ready, ['--key', b.path, '--tls', `${NAME}=127.0.0.1:${await labelledService(t, 'B')}`]);
  await agentA.waitEvent('tunnel.ready');
  await agentB.waitEvent('tunnel.ready');

  const labels = await Promise.all(Array.from({ length: 8 }, () => fetchLabel(port, NAME)));
  t.ok(labels.includes('A') && labels.includes('B'), `both agents served connections: ${labels.join(',')}`);
  t.ok(labels.every((l) => l === 'A' || l === 'B'), 'none failed');

  agentA.child.kill('SIGKILL');
  await relay.waitEvent('agent.disconnected', (l) => l.agent === 'alpha');
  const after = await Promise.all(Array.from({ length: 4 }, () => fetchLabel(port, NAME)));
  t.same(after, ['B', 'B', 'B', 'B'], 'the dead agent is skipped');

  t.test('a key the config does not list', async (t) => {
    const s = startAgent(t, ready, ['--key', stranger.path, '--tls', `${NAME}=127.0.0.1:1`]);
    const err = await s.waitEvent('tunnel.error');
    t.equal(err.code, 'UNAUTHORIZED_KEY');
    t.match(String(err.message), /not authorized/);
    t.equal(s.lines.filter((l) => l.event === 'tunnel.ready').length, 0);
  });

  t.test('a listed key asking for a name it was not granted', async (t) => {
    const s = startAgent(t, ready, ['--key', a.path, '--tls', 'elsewhere.test=127.0.0.1:1']);
    const err = await s.waitEvent('tunnel.error');
    t.equal(err.code, 'NOT_AUTHORIZED');
    const refused = await fetchLabel(port, 'elsewhere.test');
    t.match(refused, /^error:.*UNRECOGNIZED_NAME/, 'the name was not routed');
  });

  t.test('a name whose agents are all gone is refused with an alert, not held open', async (t) => {
    agentB.child.kill('SIGKILL');
    await relay.waitEvent('agent.disconnected', (l) => l.agent === 'beta');
    const mark = relay.lines.length;
    t.match(await fetchLabel(port, NAME), /^error:.*UNRECOGNIZED_NAME/);
    const refused = await relay.waitEvent('public.refused', (l) => l.sni === NAME, mark);
    t.equal(refused.reason, 'unknown_name', 'the name left the router with its last agent');
  });
});

t.test('development mode: first come, first served; a second key cannot take a held name', async (t) => {
  const home = tempHome();
  const relay = new RelayProcess(['serve', '--allow-any-agent', '--tls-listen', '127.0.0.1:0', '--agent-listen', '127.0.0.1:0', '--admin-listen', 'off'], { RELAY_HOME: home });
  t.teardown(() => relay.stop('SIGKILL'));
  const ready = await relay.waitEvent('relay.ready');
  const svc = await labelledService(t, 'first');
  const first = startAgent(t, ready, ['--tls', `other.example.test=127.0.0.1:${svc}`]);
  await first.waitEvent('tunnel.ready');
  const second = startAgent(t, ready, ['--tls', 'other.example.test=127.0.0.1:1']); // its own state dir: another key
  const err = await second.waitEvent('tunnel.error');
  t.equal(err.code, 'IN_USE');
  t.equal(await fetchLabel(portOf(ready.tls), 'other.example.test'), 'first');
});

t.test('a slow or silent ClientHello is dropped at the deadline', async (t) => {
  const home = tempHome();
  const relay = new RelayProcess(['serve', '--allow-any-agent', '--tls-listen', '127.0.0.1:0', '--agent-listen', '127.0.0.1:0',
    '--admin-listen', 'off', '--client-hello-timeout', '300'], { RELAY_HOME: home });
  t.teardown(() => relay.stop('SIGKILL'));
  const ready = await relay.waitEvent('relay.ready');
  const c = net.connect(portOf(ready.tls), '127.0.0.1');
  c.write(Buffer.from([0x16, 0x03, 0x01])); // the start of a record, then silence
  c.on('error', () => {});
  await once(c, 'close');
  const line = await relay.waitEvent('public.refused', (l) => l.reason === 'timeout');
  t.match(String(line.error), /ClientHello/i, 'refused for the missing ClientHello');
});

t.test('a wrong pinned relay key: a clear error, no tunnel', async (t) => {
  const home = tempHome();
  const relay = new RelayProcess(['serve', '--allow-any-agent', '--tls-listen', '127.0.0.1:0', '--agent-listen', '127.0.0.1:0', '--admin-listen', 'off'], { RELAY_HOME: home });
  t.teardown(() => relay.stop('SIGKILL'));
  const ready = await relay.waitEvent('relay.ready');
  const wrong = await runRelay(['keygen'], { env: { RELAY_HOME: home } });
  const wrongPub = wrong.stderr.trim().split('\n').pop()!;
  const agent = startAgent(t, { ...ready, publicKey: wrongPub }, ['--tls', 'x.example.test=127.0.0.1:1']);
  const line = await agent.waitEvent('link.down');
  t.match(String(line.error), /handshake|key/i);
  t.equal(agent.lines.filter((l) => l.event === 'tunnel.ready').length, 0);
});
