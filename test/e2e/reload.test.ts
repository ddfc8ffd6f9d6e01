import t from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RelayProcess, runRelay, startAgent, portOf } from '../helpers/proc.js';
import { freePort, listen, makeCert, tempHome } from '../helpers/net.js';

const cert = makeCert(['a.example.test', 'b.example.test']);

function config(pub: string, hosts: string[], ports: string, extra = ''): string {
  return `tls_listen = "127.0.0.1:0"\nagent_listen = "127.0.0.1:0"\nadmin_listen = "127.0.0.1:0"\ntcp_ports = "${ports}"\n${extra}
[[agents]]
name = "app"
key = "${pub}"
hosts = ${JSON.stringify(hosts)}
ports = ["${ports}"]
`;
}

/** One TLS connection through the relay: the service's first line, or how it failed. */
function get(port: number, servername: string): Promise<string> {
  const c = tls.connect({ port, host: '127.0.0.1', servername, ca: cert.cert });
  return new Promise((resolve) => {
    c.once('data', (d: Buffer) => { resolve(d.toString()); c.destroy(); });
    c.on('end', () => resolve('end'));
    c.on('error', (e: NodeJS.ErrnoException) => resolve(`error:${e.code ?? e.message}`));
  });
}

t.test('SIGHUP: a revoked tunnel ends (its connections reset, the agent told REVOKED), a newly granted one goes live, the session stays', async (t) => {
  const home = tempHome(t);
  const keyPath = join(home, 'a.key');
  const gen = await runRelay(['keygen', '--out', keyPath]);
  const pub = gen.stdout.trim();
  const svc = tls.createServer({ key: cert.key, cert: cert.cert }, (c) => { c.on('error', () => {}); c.on('data', (d: Buffer) => c.write(d)); c.write(`hello from ${c.servername}\n`); });
  const svcPort = await listen(svc, t);
  const echo = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
  const echoPort = await listen(echo, t);
  const tcpPort = await freePort();
  const file = join(home, 'relay.toml');
  writeFileSync(file, config(pub, ['a.example.test'], String(tcpPort)));
  const relay = new RelayProcess(['serve', '--config', file], { RELAY_HOME: home });
  t.teardown(() => relay.stop('SIGKILL'));
  const ready = await relay.waitEvent('relay.ready');
  const agent = startAgent(t, ready, ['--key', keyPath, '--tls', `a.example.test=127.0.0.1:${svcPort}`, '--tls', `b.example.test=127.0.0.1:${svcPort}`, '--tcp', `${tcpPort}=127.0.0.1:${echoPort}`]);
  await agent.waitEvent('tunnel.ready', (l) => l.hostname === 'a.example.test');
  await agent.waitEvent('tunnel.ready', (l) => l.port === tcpPort);
  await agent.waitEvent('tunnel.error', (l) => l.tunnel === 'b.example.test' && l.code === 'NOT_AUTHORIZED');
  const tlsPort = portOf(ready.tls);

  // A connection held open through a.example.test, and one through the TCP tunnel (which stays granted).
  const held = tls.connect({ port: tlsPort, host: '127.0.0.1', servername: 'a.example.test', ca: cert.cert });
  const heldEnd = new Promise<string>((resolve) => { held.on('error', (e: NodeJS.ErrnoException) => resolve(`error:${e.code}`)); held.on('end', () => resolve('end')); });
  await once(held, 'data');
  const tcpHeld = net.connect({ port: tcpPort, host: '127.0.0.1' });
  tcpHeld.write('before');
  await once(tcpHeld, 'data');

  writeFileSync(file, config(pub, ['b.example.test'], String(tcpPort)));
  relay.child.kill('SIGHUP');
  const reloaded = await relay.waitEvent('config.reloaded');
  t.match(reloaded, { agents: 1, tunnelsRevoked: 1, tunnelsGranted: 1, restartNeeded: [] });
  t.ok((reloaded.grantsAdded as string[]).some((g) => g.endsWith('b.example.test')), 'the summary names the grant added');
  t.ok((reloaded.grantsRemoved as string[]).some((g) => g.endsWith('a.example.test')), 'and the grant removed');

  const revoked = await agent.waitEvent('tunnel.error', (l) => l.code === 'REVOKED');
  t.equal(revoked.tunnel, 'a.example.test');
  const granted = await agent.waitEvent('tunnel.ready', (l) => l.hostname === 'b.example.test');
  t.match(String(granted.url), /b\.example\.test/);
  t.equal(await heldEnd, 'error:ECONNRESET', 'the revoked tunnel\'s open connection is reset');
  t.equal(await get(tlsPort, 'b.example.test'), 'hello from b.example.test\n', 'the new grant serves');
  t.equal(await get(tlsPort, 'a.example.test'), 'error:ERR_SSL_TLSV1_UNRECOGNIZED_NAME', 'the revoked name is gone');
  tcpHeld.write('after');
  const [d] = (await once(tcpHeld, 'data')) as [Buffer];
  t.equal(d.toString(), 'after', 'the TCP tunnel, still granted, was not disturbed');
  tcpHeld.destroy();
  t.equal(agent.lines.filter((l) => l.event === 'link.up').length, 1, 'the agent never reconnected');
  t.equal(relay.lines.filter((l) => l.event === 'agent.disconnected').length, 0);

  // A file that does not parse changes nothing.
  writeFileSync(file, 'this is = = not toml');
  relay.child.kill('SIGHUP');
  const failed = await relay.waitEvent('config.reload_failed');
  t.match(String(failed.error), /relay\.toml/);
  t.equal(await get(tlsPort, 'b.example.test'), 'hello from b.example.test\n', 'the old config stays in force');

  // One that does not validate either; and a setting only a restart applies is named, not applied.
  writeFileSync(file, config(pub, ['b.example.test'], String(tcpPort), 'deny = ["not-a-block"]'));
  relay.child.kill('SIGHUP');
  const failed2 = await relay.waitEvent('config.reload_failed', (l) => l !== failed);
  t.match(String(failed2.error), /deny/);
  writeFileSync(file, config(pub, ['b.example.test'], String(tcpPort), 'lease_ms = 5000'));
  relay.child.kill('SIGHUP');
  const again = await relay.waitEvent('config.reloaded', (l) => l !== reloaded);
  t.same(again.restartNeeded, ['lease_ms']);
  t.match(again, { tunnelsRevoked: 0, tunnelsGranted: 0, grantsAdded: [], grantsRemoved: [] });
});

t.test('SIGHUP with new address rules: the next connection is judged by them, no restart', async (t) => {
  const home = tempHome(t);
  const echo = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
  const echoPort = await listen(echo, t);
  const tcpPort = await freePort();
  const file = join(home, 'relay.toml');
  const base = `tls_listen = "off"\nagent_listen = "127.0.0.1:0"\nadmin_listen = "off"\ntcp_ports = "${tcpPort}"\nallow_any_agent = true\n`;
  writeFileSync(file, base);
  const relay = new RelayProcess(['serve', '--config', file], { RELAY_HOME: home });
  t.teardown(() => relay.stop('SIGKILL'));
  const ready = await relay.waitEvent('relay.ready');
  const agent = startAgent(t, ready, ['--tcp', `127.0.0.1:${echoPort}`]);
  await agent.waitEvent('tunnel.ready');
  const attempt = (from: string) => new Promise<string>((resolve) => {
    const s = net.connect({ port: tcpPort, host: '127.0.0.1', localAddress: from });
    s.write('hi');
    s.once('data', (d: Buffer) => { resolve(d.toString()); s.destroy(); });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(`error:${e.code}`));
  });
  t.equal(await attempt('127.0.0.2'), 'hi');
  writeFileSync(file, `${base}deny = ["127.0.0.2/32"]\n`);
  relay.child.kill('SIGHUP');
  await relay.waitEvent('config.reloaded');
  t.equal(await attempt('127.0.0.2'), 'error:ECONNRESET');
  t.equal(await attempt('127.0.0.3'), 'hi');
});
