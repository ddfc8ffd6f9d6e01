// The agent's PROXY protocol header, through the real CLI against a hand-driven relay, so that
// the OPEN metadata (IPv6 clients, IPv4-mapped addresses, an older relay's layout 1) is whatever
// the test says: what each tunnel's target reads first, and that the stream's bytes follow verbatim.
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rawRelay, allLive } from '../helpers/raw-relay.js';
import { RelayProcess } from '../helpers/proc.js';
import { listen, tempHome, type Teardown } from '../helpers/net.js';
import { ProxyHeaderReader, PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY, type ProxyHeader } from '../../src/proxy-protocol/index.js';
import type { OpenMetadata } from '../../src/mux/frame.js';
import { buildHello } from '../../src/bench/client-hello.js';

/** A target that hands out, per connection, every byte it received once the agent half-closed. */
async function collector(t: Teardown): Promise<{ port: number; next: () => Promise<Buffer> }> {
  const done: Buffer[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => { done.push(Buffer.concat(chunks)); server.emit('collected'); s.end(); });
  });
  const port = await listen(server, t);
  return {
    port,
    next: async () => {
      while (done.length === 0) await once(server, 'collected');
      return done.shift()!;
    },
  };
}

t.test('per-tunnel headers (file table, flags), the register carries allow/deny, layout-1 metadata warns once', async (t) => {
  const v1Target = await collector(t);
  const plainTarget = await collector(t);
  const v2Target = await collector(t);
  const tlsTarget = await collector(t);
  const home = tempHome(t);
  const config = join(home, 'agent.toml');
  writeFileSync(config, [
    `tcp = [{ target = "127.0.0.1:${v1Target.port}", proxy_protocol = "v1", allow = ["192.0.2.0/24", "2001:DB8::/32"] }, "127.0.0.1:${plainTarget.port}"]`,
    `tls = [{ name = "App.Example.test", target = "127.0.0.1:${tlsTarget.port}", proxy_protocol = "v2", deny = ["203.0.113.7"] }]`,
  ].join('\n'));
  const relay = await rawRelay(t);
  const agent = new RelayProcess(['agent', '--no-warmup', '--relay', relay.address, '--relay-key', relay.publicKey, '--config', config,
    '--tcp', `127.0.0.1:${v2Target.port}`, '--proxy-protocol', 'v2', '--deny', '10.0.0.0/8', '--deny', '10.1.2.3'], { RELAY_HOME: home });
  t.teardown(() => agent.stop('SIGKILL'));
  const s = await relay.nextSession();
  t.equal(s.register.meta, 2, 'the agent reads layout 2');
  t.same(s.register.tunnels, [
    { id: 'app.example.test', type: 'tls', hostname: 'app.example.test', deny: ['203.0.113.7/32'] },
    { id: 'tcp:1', type: 'tcp', port: 0, allow: ['192.0.2.0/24', '2001:db8::/32'] },
    { id: 'tcp:2', type: 'tcp', port: 0 },
    { id: 'tcp:3', type: 'tcp', port: 0, deny: ['10.0.0.0/8', '10.1.2.3/32'] },
  ], 'file tunnels first (tcp:1, tcp:2), then the flags\' (tcp:3) with the flags\' policy only');
  s.write(allLive(s.register));
  await agent.waitEvent('tunnel.ready', () => agent.lines.filter((l) => l.event === 'tunnel.ready').length === 4);

  /** Opens a stream with `meta` and `first`, ends it, and reads what the target got: header and rest. */
  async function through(target: { next: () => Promise<Buffer> }, meta: OpenMetadata, first: Buffer) {
    const st = s.session.openStream(meta, first);
    st.end();
    const got = await target.next();
    let pp: ProxyHeader | null = null;
    try { pp = new ProxyHeaderReader().push(got); } catch { /* no header: the plain tunnel */ }
    return { got, pp };
  }
  const data = Buffer.from('the client\'s first bytes');
  const layout2 = (tunnelId: string, client: string, server: string, extra: Partial<OpenMetadata> = {}): OpenMetadata =>
    ({ tunnelId, clientAddress: client, clientPort: 40001, serverAddress: server, serverPort: 20000, alpn: [], ...extra });

  // tcp:1, v1 from the file: IPv4, IPv4-mapped (to TCP4), IPv6 client with an IPv4 relay (TCP6, mapped).
  let r = await through(v1Target, layout2('tcp:1', '192.0.2.9', '198.51.100.1'), data);
  t.equal(r.got.toString('latin1'), `PROXY TCP4 192.0.2.9 198.51.100.1 40001 20000\r\n${data.toString()}`, 'v1 TCP4, then the bytes verbatim');
  r = await through(v1Target, layout2('tcp:1', '::ffff:192.0.2.10', '::ffff:198.51.100.1'), data);
  t.match(r.got.toString('latin1'), /^PROXY TCP4 192\.0\.2\.10 198\.51\.100\.1 40001 20000\r\n/, 'IPv4-mapped on both ends: TCP4');
  r = await through(v1Target, layout2('tcp:1', '2001:db8::9', '198.51.100.1'), data);
  t.match(r.got.toString('latin1'), /^PROXY TCP6 2001:db8::9 ::ffff:198\.51\.100\.1 40001 20000\r\n/, 'IPv6 client, IPv4 relay: TCP6 with the relay mapped');

  // tcp:2 has no PROXY protocol: the bytes as sent.
  r = await through(plainTarget, layout2('tcp:2', '192.0.2.9', '198.51.100.1'), data);
  t.same(r.got, data, 'a tunnel without proxy_protocol gets no header');

  // tcp:3, v2 from the flags.
  r = await through(v2Target, layout2('tcp:3', '2001:db8::7', '2001:db8::1'), data);
  t.match(r.pp, { version: 2, command: 'proxy', source: { address: '2001:db8::7', port: 40001 }, destination: { address: '2001:db8::1', port: 20000 } });
  t.same(r.pp?.rest, data, 'v2, then the bytes verbatim');
  t.equal(r.pp?.tlvs.size, 0, 'a TCP tunnel sends no authority or ALPN');

  // The TLS tunnel: v2 with the SNI name and the first ALPN protocol, then the ClientHello verbatim.
  const hello = buildHello({ serverName: 'app.example.test', alpn: ['h2', 'http/1.1'] });
  r = await through(tlsTarget, layout2('app.example.test', '192.0.2.9', '198.51.100.1', { serverName: 'app.example.test', serverPort: 8443, alpn: ['h2', 'http/1.1'] }), hello);
  t.match(r.pp, { version: 2, command: 'proxy', source: { address: '192.0.2.9', port: 40001 }, destination: { address: '198.51.100.1', port: 8443 } });
  t.equal(r.pp?.tlvs.get(PP2_TYPE_AUTHORITY)?.toString(), 'app.example.test', 'PP2_TYPE_AUTHORITY: the SNI name');
  t.equal(r.pp?.tlvs.get(PP2_TYPE_ALPN)?.toString(), 'h2', 'PP2_TYPE_ALPN: the client\'s first protocol');
  t.same(r.pp?.rest, hello, 'the ClientHello follows verbatim');
  r = await through(tlsTarget, layout2('app.example.test', '192.0.2.9', '198.51.100.1', { serverName: 'app.example.test' }), hello);
  t.notOk(r.pp?.tlvs.has(PP2_TYPE_ALPN), 'no ALPN offered: no ALPN TLV');

  t.notOk(agent.lines.some((l) => l.event === 'proxy_protocol.no_destination'), 'no warning while the relay sends destinations');
  // An older relay (layout 1: no destination): UNKNOWN / LOCAL, and one warning for the session.
  r = await through(v1Target, { tunnelId: 'tcp:1', clientAddress: '192.0.2.9', clientPort: 40001 }, data);
  t.equal(r.got.toString('latin1'), `PROXY UNKNOWN\r\n${data.toString()}`, 'v1 UNKNOWN');
  r = await through(tlsTarget, { tunnelId: 'app.example.test', clientAddress: '192.0.2.9', clientPort: 40001, serverName: 'app.example.test' }, hello);
  t.match(r.pp, { version: 2, command: 'local' });
  t.equal(r.pp?.source, undefined);
  t.equal(r.pp?.tlvs.get(PP2_TYPE_AUTHORITY)?.toString(), 'app.example.test', 'LOCAL still names the SNI');
  t.same(r.pp?.rest, hello);
  const warning = await agent.waitEvent('proxy_protocol.no_destination');
  t.equal(warning.level, 40, 'a warning');
  // A line the agent writes after both streams (an unknown tunnel): a second warning would come before it.
  s.session.openStream({ tunnelId: 'tcp:99' });
  await agent.waitEvent('stream.unknown_tunnel');
  t.equal(agent.lines.filter((l) => l.event === 'proxy_protocol.no_destination').length, 1, 'said once for the session, not per stream');
});
