import t from 'tap';
import { parseTlsSpec, parseTcpSpec, TunnelSpecError } from '../../src/agent/tunnels.js';
import { Backoff } from '../../src/agent/backoff.js';
import { parseHostPort, parsePortRange } from '../../src/net/address.js';

t.test('tunnel specs', async (t) => {
  t.same(parseTlsSpec('App.Test.=127.0.0.1:8443'), { id: 'app.test', type: 'tls', hostname: 'app.test', target: { host: '127.0.0.1', port: 8443 } });
  t.same(parseTcpSpec('127.0.0.1:22'), { id: 'tcp:1', type: 'tcp', port: 0, target: { host: '127.0.0.1', port: 22 } });
  t.equal(parseTcpSpec('127.0.0.1:22', 2).id, 'tcp:3', 'an opaque ordinal: the relay never learns the target');
  t.same(parseTcpSpec('20022=[::1]:22').target, { host: '::1', port: 22 });
  t.equal(parseTcpSpec('20022=[::1]:22').port, 20022);
  for (const bad of ['app.test', '=1.2.3.4:5', 'bad name=127.0.0.1:1', 'a.test=127.0.0.1:0', 'a.test=host']) {
    t.throws(() => parseTlsSpec(bad), TunnelSpecError, bad);
  }
  for (const bad of ['70000=127.0.0.1:22', 'x=127.0.0.1:22', '127.0.0.1']) t.throws(() => parseTcpSpec(bad), TunnelSpecError, bad);
});

t.test('addresses and ranges', async (t) => {
  t.same(parseHostPort(':0'), { host: '0.0.0.0', port: 0 });
  t.same(parseHostPort('[::1]:443'), { host: '::1', port: 443 });
  t.throws(() => parseHostPort('host:99999'));
  t.same(parsePortRange('20000-20999'), { from: 20000, to: 20999 });
  t.throws(() => parsePortRange('2-1'));
});

t.test('backoff: fast first, exponential, capped, jittered', async (t) => {
  const lo = new Backoff({ firstMs: 100, capMs: 30_000, random: () => 0 });
  const hi = new Backoff({ firstMs: 100, capMs: 30_000, random: () => 1 });
  const a = Array.from({ length: 12 }, () => lo.next());
  const b = Array.from({ length: 12 }, () => hi.next());
  t.same(a.slice(0, 4), [50, 100, 200, 400]);
  t.same(b.slice(0, 4), [100, 200, 400, 800]);
  t.equal(b[11], 30_000, 'capped');
  t.equal(a[11], 15_000, 'jitter stays within half the cap');
  hi.reset();
  t.equal(hi.next(), 100);
});
