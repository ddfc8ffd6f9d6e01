import t from 'tap';
import { Authorizer } from '../../src/relay/authz.js';

t.test('authorizer: grants from config, development mode', async (t) => {
  const key = 'A'.repeat(43);
  const a = new Authorizer([{ name: 'laptop', key, hosts: ['app.test', '*.dev.test'], ports: [{ from: 20000, to: 20009 }] }], false);
  t.ok(a.knows(key));
  t.notOk(a.knows('B'.repeat(43)));
  t.ok(a.mayClaimHost(key, 'app.test'));
  t.ok(a.mayClaimHost(key, 'x.dev.test'));
  t.ok(a.mayClaimHost(key, '*.dev.test'));
  t.notOk(a.mayClaimHost(key, 'dev.test'));
  t.notOk(a.mayClaimHost(key, 'other.test'));
  t.ok(a.mayClaimPort(key, 20009));
  t.notOk(a.mayClaimPort(key, 20010));
  t.equal(a.agentName(key), 'laptop');
  const dev = new Authorizer([], true);
  t.ok(dev.knows('B'.repeat(43)));
  t.ok(dev.mayClaimHost('B'.repeat(43), 'anything.test'));
  t.notOk(dev.granted('B'.repeat(43), 'anything.test'), 'development mode is not an explicit grant');
});
