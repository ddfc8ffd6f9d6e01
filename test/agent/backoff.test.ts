import t from 'tap';
import { Backoff } from '../../src/agent/backoff.js';

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
