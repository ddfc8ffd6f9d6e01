import t from 'tap';
import net from 'node:net';
import { RelayServer } from '../../src/relay/index.js';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { silentLogger } from '../../src/log.js';
import { parseHostPort } from '../../src/net/address.js';
import { untilClosed } from '../helpers/net.js';

async function adminOf(t: { teardown: (fn: () => unknown) => void }, adminTimeoutMs?: number): Promise<{ host: string; port: number }> {
  const relay = new RelayServer({
    staticKey: generateKeyPair(), tlsListen: { host: '127.0.0.1', port: 0 }, agentListen: { host: '127.0.0.1', port: 0 },
    adminListen: { host: '127.0.0.1', port: 0 }, tcpPorts: null, allowAnyAgent: true, grants: [], adminTimeoutMs, logger: silentLogger,
  });
  await relay.start();
  t.teardown(() => relay.close());
  return parseHostPort(relay.addresses.admin!);
}

t.test('a fresh relay shows every counter at 0', async (t) => {
  const admin = await adminOf(t);
  const text = await (await fetch(`http://127.0.0.1:${admin.port}/metrics`)).text();
  for (const series of ['relay_bytes_total{direction="in"} 0', 'relay_bytes_total{direction="out"} 0', 'relay_public_refused_total{reason="timeout"} 0',
    'relay_public_connections_total{type="tls"} 0', 'relay_tunnel_errors_total{code="IN_USE"} 0', 'relay_agent_handshakes_failed_total{code="TIMEOUT"} 0']) {
    t.ok(text.split('\n').includes(series), series);
  }
});

t.test('a connection that sends nothing is closed at the admin deadline', { timeout: 20_000 }, async (t) => {
  const admin = await adminOf(t, 300);
  const s = net.connect({ port: admin.port, host: admin.host, allowHalfOpen: true });
  t.match((await untilClosed(s)).data.toString('latin1'), /^(HTTP\/1\.1 408 [^]*)?$/, 'closed (with at most a 408)');
});

t.test('a request that never finishes gets 408 at the admin deadline', { timeout: 20_000 }, async (t) => {
  const admin = await adminOf(t, 300);
  const s = net.connect({ port: admin.port, host: admin.host, allowHalfOpen: true });
  s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n'); // the blank line never comes
  t.match((await untilClosed(s)).data.toString('latin1'), /^HTTP\/1\.1 408 /);
});
