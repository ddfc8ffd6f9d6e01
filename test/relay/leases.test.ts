import t from 'tap';
import { Leases } from '../../src/relay/leases.js';

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

t.test('expire() forgets expired leases whether or not anyone asks for them again', async (t) => {
  let now = 0;
  const l = new Leases(10, () => now);
  for (let i = 0; i < 100; i++) { l.acquire(`host:n${i}.test`, 'K'); l.release(`host:n${i}.test`, 'K'); }
  l.acquire('host:live.test', 'K');
  t.equal(l.size, 101);
  now = 9;
  t.equal(l.expire(), 0, 'nothing before its time');
  now = 10;
  t.equal(l.expire(), 100);
  t.equal(l.size, 1, 'the live holding stays');
  t.ok(l.holds('host:live.test', 'K'));
});
