import t from 'tap';
import { parseTlsSpec, parseTcpSpec, TunnelSpecError } from '../../src/agent/tunnels.js';

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
