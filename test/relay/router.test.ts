import t from 'tap';
import { HostRouter, Pool, matchesPattern } from '../../src/relay/router.js';

const b = (name: string, streamCount = 0) => ({ name, streamCount });

t.test('exact beats wildcard, longest wildcard suffix wins', async (t) => {
  const r = new HostRouter<ReturnType<typeof b>>();
  r.add('*.example.com', b('wild'));
  r.add('*.dev.example.com', b('dev'));
  r.add('app.example.com', b('exact'));
  t.equal(r.lookup('app.example.com')?.pick()?.name, 'exact');
  t.equal(r.lookup('x.example.com')?.pick()?.name, 'wild');
  t.equal(r.lookup('a.b.example.com')?.pick()?.name, 'wild', 'a star stands for one or more labels');
  t.equal(r.lookup('x.dev.example.com')?.pick()?.name, 'dev');
  t.equal(r.lookup('example.com'), undefined, 'the bare suffix is not matched by *.example.com');
  t.equal(r.lookup('other.test'), undefined);
  t.equal(r.lookup('xexample.com'), undefined);
});

t.test('removing the last backend removes the name', async (t) => {
  const r = new HostRouter<ReturnType<typeof b>>();
  const one = b('one');
  r.add('app.test', one);
  r.remove('app.test', one);
  t.equal(r.lookup('app.test'), undefined);
  t.same(r.entries(), []);
});

t.test('pool: least streams first, ties rotate', async (t) => {
  const p = new Pool<ReturnType<typeof b>>();
  const x = b('x'), y = b('y'), z = b('z');
  p.add(x); p.add(y); p.add(z);
  const seen = [p.pick()!.name, p.pick()!.name, p.pick()!.name, p.pick()!.name];
  t.same(seen, ['x', 'y', 'z', 'x'], 'round-robin among equals');
  x.streamCount = 5; y.streamCount = 1; z.streamCount = 3;
  t.equal(p.pick()!.name, 'y');
  p.remove(y);
  t.equal(p.pick()!.name, 'z', 'a removed (dead) member is skipped');
  p.remove(x); p.remove(z);
  t.equal(p.pick(), undefined);
});

t.test('matchesPattern', async (t) => {
  t.ok(matchesPattern('a.test', 'a.test'));
  t.notOk(matchesPattern('a.test', 'b.a.test'));
  t.ok(matchesPattern('*.a.test', 'b.a.test'));
  t.notOk(matchesPattern('*.a.test', 'a.test'));
});
