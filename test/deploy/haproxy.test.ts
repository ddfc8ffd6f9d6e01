// deploy/haproxy/haproxy.cfg, the balancer of the systemd topology: HAProxy accepts it; its
// ports, health check and PROXY headers agree with deploy/systemd/relay.toml; and, run for
// real against a relay (its addresses moved to loopback), its connections arrive with a header
// the relay accepts, and its health check takes a draining relay out.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { parseRelayConfig } from '../../src/relay/config.js';
import { RelayProcess, portOf } from '../helpers/proc.js';
import { freePort, tempHome } from '../helpers/net.js';
import { ROOT, portOfListener, read } from './files.js';

// As test/helpers/haproxy.ts: Debian's /usr/sbin may be off a non-root PATH; a machine without
// HAProxy (a test dependency, README "Set up") fails here rather than skipping.
const HAPROXY = existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy';
const cfgText = read('deploy/haproxy/haproxy.cfg');
const relayToml = parseRelayConfig(read('deploy/systemd/relay.toml'), 'deploy/systemd/relay.toml');
const lines = cfgText.split('\n').map((l) => l.replace(/#.*$/, '').trim()).filter((l) => l !== '');

/** `p`, or a failure naming what did not happen within `ms`: a test here never hangs. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms); });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

t.test('haproxy -c accepts the example', async (t) => {
  const r = spawnSync(HAPROXY, ['-c', '-f', join(ROOT, 'deploy/haproxy/haproxy.cfg')], { encoding: 'utf8' });
  t.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  t.notMatch(`${r.stdout}${r.stderr}`, /WARNING|ALERT/, 'without a warning');
});

t.test('ports, health check and PROXY headers agree with the relays\' relay.toml', async (t) => {
  const binds = lines.filter((l) => l.startsWith('bind ')).map((l) => l.slice(5));
  t.same(binds, [':443', `:${relayToml.tcpPorts}`], 'the public TLS port, and exactly tcp_ports');
  const servers = lines.filter((l) => l.startsWith('server '));
  const tlsServers = servers.filter((l) => /:\d+$/.test(l));
  t.ok(tlsServers.length >= 2 && tlsServers.every((l) => portOfListener(l) === portOfListener(relayToml.tlsListen!)), 'TLS goes to each relay\'s tls_listen port');
  t.ok(servers.filter((l) => !/:\d+$/.test(l)).length >= 2, 'TCP tunnel ports go to the same port on each relay');
  const defaults = lines.filter((l) => l.startsWith('default-server '));
  t.equal(defaults.length, 2, 'one default-server line per backend');
  for (const d of defaults) {
    t.match(d, new RegExp(`\\bcheck port ${portOfListener(relayToml.adminListen!)}\\b`), 'health checked on the admin listener');
    t.match(d, /\bsend-proxy(-v2)?\b/, 'traffic carries a PROXY header');
    t.match(d, /\bfall 1\b/, 'one 503 takes a relay out');
  }
  t.equal(lines.filter((l) => l === 'option httpchk GET /healthz').length, 2, 'the check asks /healthz');
  t.equal(lines.filter((l) => l === 'http-check expect status 200').length, 2, 'and wants 200 (503 is a drain)');
  t.ok(relayToml.proxyProtocolFrom.has('192.0.2.10'), 'relay.toml trusts the balancer\'s address for those headers');
  t.notOk(relayToml.proxyProtocolFrom.has('192.0.2.21'), 'and not a relay\'s, nor anyone else\'s');
});

t.test('run against a relay: headers accepted, and a drain takes the relay out at the next check', async (t) => {
  // With workers, as relay.service runs it: the primary closes its admin listener when the
  // drain begins (a single process answers 503 instead: dockerfile.test.ts).
  const relay = new RelayProcess(['serve', '--allow-any-agent', '--tls-listen', '127.0.0.1:0', '--agent-listen', '127.0.0.1:0',
    '--admin-listen', '127.0.0.1:0', '--proxy-protocol-from', '127.0.0.1/32', '--drain-timeout', '20000', '--no-warmup', '--workers', '2'], { RELAY_HOME: tempHome(t) });
  t.teardown(() => relay.stop('SIGKILL'));
  const ready = await relay.waitEvent('relay.ready');
  const front = await freePort();
  // The example with its addresses on loopback: one relay, the TLS frontend only (the tunnel
  // ports may be in use here), a small maxconn (no file limit to raise).
  const cfg = cfgText
    .replace('bind :443', `bind 127.0.0.1:${front}`)
    .replaceAll('check port 7836', `check port ${portOf(ready.admin)}`)
    .replace('server relay1 192.0.2.21:443', `server relay1 127.0.0.1:${portOf(ready.tls)}`)
    .replace(/^ *server relay2 192\.0\.2\.22:443\n/m, '')
    .replace(/^# The TCP tunnel ports[^]*$/m, '')
    .replace('maxconn 100000', 'maxconn 1000')
    .replace('log stdout format raw local0', 'nbthread 1');
  t.not(cfg, cfgText);
  const file = join(tempHome(t), 'haproxy.cfg');
  writeFileSync(file, cfg);
  const haproxy = spawn(HAPROXY, ['-W', '-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(async () => {
    if (haproxy.exitCode !== null || haproxy.signalCode !== null) return;
    const exited = once(haproxy, 'exit');
    haproxy.kill('SIGTERM');
    await exited;
  });
  let stderr = '';
  // HAProxy's own lines, awaited with a deadline: a check that never says what it should is a
  // failure that names what HAProxy said instead, not a hang.
  const seen = (re: RegExp, ms = 15_000) => new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`haproxy did not log ${String(re)} within ${ms} ms: ${stderr.slice(-800)}`)), ms);
    const look = () => { if (re.test(stderr)) { clearTimeout(timer); resolve(); } };
    haproxy.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; look(); });
    haproxy.once('exit', (code) => { clearTimeout(timer); reject(new Error(`haproxy exited (${code}): ${stderr.slice(-800)}`)); });
    look();
  });
  await seen(/Loading success\./);

  // A ClientHello for a name nobody serves: the relay answers it only if the PROXY header in
  // front of it was accepted (a trusted peer without one is closed as proxy_header).
  const refused = within(relay.waitEvent('public.refused'), 15_000, 'the relay logged no public.refused for the connection through HAProxy');
  const c = connect(front, '127.0.0.1');
  c.on('error', () => {});
  c.end(Buffer.from('160301002f0100002b0303' + '00'.repeat(32) + '000002c02f0100', 'hex'));
  const line = await refused;
  t.not(line.reason, 'proxy_header', `the balancer's header is accepted (refused as ${String(line.reason)}, past the header)`);

  // An open connection keeps the drain going; the next check fails and takes the relay out
  // while it still drains.
  const open = connect(portOf(ready.tls), '127.0.0.1');
  open.on('error', () => {});
  await once(open, 'connect');
  t.teardown(() => open.destroy());
  relay.child.kill('SIGTERM');
  await relay.waitEvent('relay.stopping');
  await seen(/relays_tls\/relay1 is DOWN/);
  t.equal(relay.child.exitCode, null, 'HAProxy marks the relay DOWN while it still drains');
});
