import t from 'tap';
import { Leases } from '../../src/relay/leases.js';
import { Authorizer } from '../../src/relay/authz.js';

t.test('a lease keeps a resource for its key after the last session goes', async (t) => {
  let now = 1000;
  const l = new Leases(500, () => now);
  t.ok(l.mayTake('host:a.test', 'K1', false));
  l.acquire('host:a.test', 'K1');
  t.notOk(l.mayTake('host:a.test', 'K2', false), 'held live by another key');
  t.ok(l.mayTake('host:a.test', 'K1', false), 'the holder may take it again');
  l.release('host:a.test', 'K1');
  now += 499;
  t.notOk(l.mayTake('host:a.test', 'K2', false), 'still leased to K1');
  t.ok(l.holds('host:a.test', 'K1'));
  t.ok(l.mayTake('host:a.test', 'K2', true), 'an explicit grant may share');
  now += 2;
  t.ok(l.mayTake('host:a.test', 'K2', false), 'lease expired');
  t.notOk(l.isHeld('host:a.test'));
});

t.test('two live sessions of one key: the lease starts with the last', async (t) => {
  let now = 0;
  const l = new Leases(10, () => now);
  l.acquire('port:20001', 'K');
  l.acquire('port:20001', 'K');
  l.release('port:20001', 'K');
  now = 100;
  t.ok(l.holds('port:20001', 'K'), 'one session still live');
  l.release('port:20001', 'K');
  l.release('port:20001', 'K'); // an extra release is harmless
  now = 111;
  t.notOk(l.holds('port:20001', 'K'));
});

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
