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

t.test('drop: a revoked holding goes at once, but only once no session of the key serves it', async (t) => {
  const l = new Leases(600_000, () => 0); // the clock stands still: a lease never ends by itself here
  l.acquire('host:a.test', 'K1');
  l.acquire('host:a.test', 'K1'); // two sessions of K1
  l.release('host:a.test', 'K1');
  l.drop('host:a.test', 'K1');
  t.ok(l.holds('host:a.test', 'K1'), 'one session still serves it: drop is no-op');
  t.notOk(l.mayTake('host:a.test', 'K2', false), 'so no other key may take it');
  l.release('host:a.test', 'K1');
  t.notOk(l.mayTake('host:a.test', 'K2', false), 'released: a lease holds it for K1');
  l.drop('host:a.test', 'K1');
  t.notOk(l.holds('host:a.test', 'K1'), 'dropped: no lease kept');
  t.ok(l.mayTake('host:a.test', 'K2', false), 'another key may take it at once, long before the lease would end');
  t.notOk(l.isHeld('host:a.test'));
  t.equal(l.size, 0, 'nothing kept in memory');
  l.acquire('host:a.test', 'K2');
  t.notOk(l.mayTake('host:a.test', 'K1', false), 'and K2 holds it now like any holder');
});

t.test("drop touches only that key's holding of that resource", async (t) => {
  const l = new Leases(1000, () => 0);
  l.acquire('port:20022', 'K1');
  l.acquire('port:20022', 'K2'); // both explicitly granted: they share
  l.acquire('port:20023', 'K1');
  l.release('port:20023', 'K1');
  l.release('port:20022', 'K1');
  l.drop('port:20022', 'K1');
  t.notOk(l.holds('port:20022', 'K1'));
  t.ok(l.holds('port:20022', 'K2'), "K2's live holding stays");
  t.ok(l.holds('port:20023', 'K1'), "K1's lease on another port stays");
  t.equal(l.size, 2);
  l.drop('port:20022', 'K3'); // never held
  l.drop('port:1', 'K1'); // never held
  l.drop('port:20022', 'K2'); // live
  t.ok(l.holds('port:20022', 'K2'), 'a live holding is never dropped');
  t.equal(l.size, 2, 'drops of what is not there change nothing');
  l.release('port:20022', 'K2');
  l.drop('port:20022', 'K2');
  l.drop('port:20022', 'K2'); // twice is harmless
  t.notOk(l.isHeld('port:20022'));
  t.equal(l.size, 1);
});
