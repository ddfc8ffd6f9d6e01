// Token buckets (src/net/token-bucket.ts) on a clock the test moves: connection rates per key
// (RateTable, bounded however many addresses a flood comes from) and byte budgets (ByteThrottle,
// which answers how long to pause, never drops). Times are powers of two or whole numbers so
// that the float arithmetic is exact and the edges below are the real edges.
import t from 'tap';
import fc from 'fast-check';
import { ByteThrottle, RateTable, TokenBucket } from '../../src/net/token-bucket.js';

/** A clock the test moves by hand. */
function clock(start = 1000): { now: () => number; advance: (ms: number) => void } {
  let now = start;
  return { now: () => now, advance: (ms) => { now += ms; } };
}

t.test('TokenBucket: starts full, take spends, peek does not, refills at the rate up to the burst', async (t) => {
  const c = clock();
  const b = new TokenBucket(2, 4, c.now);
  t.ok(b.full, 'a new bucket is full');
  for (let i = 0; i < 10; i++) t.ok(b.peek(), 'peek never spends');
  for (let i = 0; i < 4; i++) t.ok(b.take(), `token ${i + 1} of the burst`);
  t.notOk(b.take(), 'the burst is spent');
  t.notOk(b.peek());
  t.notOk(b.full);
  c.advance(250); // half a token at 2/s
  t.notOk(b.peek(), 'half a token is no token');
  c.advance(250);
  t.ok(b.peek(), 'one token after 500 ms at 2/s');
  t.ok(b.take());
  t.notOk(b.take(), 'and only one');
  c.advance(1500); // three tokens
  t.notOk(b.full, 'three of four');
  c.advance(500);
  t.ok(b.full, 'full again after burst / rate');
  c.advance(60_000);
  let n = 0;
  while (b.take()) n++;
  t.equal(n, 4, 'a long idle saves up no more than the burst');
});

t.test('TokenBucket: the burst defaults to the rate; fractional rates work', async (t) => {
  const c = clock();
  const b = new TokenBucket(3, undefined, c.now);
  t.ok(b.take() && b.take() && b.take());
  t.notOk(b.take());
  const slow = new TokenBucket(0.5, 1, c.now); // one every 2 s
  t.ok(slow.take());
  c.advance(1000);
  t.notOk(slow.take(), 'half a token after 1 s');
  c.advance(1000);
  t.ok(slow.take(), 'a token after 2 s');
  t.notOk(slow.take());
});

t.test('RateTable: each key has its own bucket; peek neither spends nor remembers', async (t) => {
  const c = clock();
  const r = new RateTable(1, 1, 1000, c.now);
  t.ok(r.take('a'));
  t.notOk(r.take('a'), 'a spent its token');
  t.notOk(r.peek('a'));
  t.ok(r.peek('b'), 'b is untouched');
  t.ok(r.take('b'));
  t.notOk(r.take('b'));
  const before = r.size;
  for (let i = 0; i < 100; i++) t.ok(r.peek(`unseen${i}`));
  t.equal(r.size, before, 'peeking at unknown keys stores nothing');
  c.advance(1000);
  t.ok(r.take('a'), 'a refilled');
});

t.test('RateTable: full buckets are forgotten by the sweep; a bucket still refilling is kept', async (t) => {
  const c = clock(0);
  const r = new RateTable(1, 2, 1000, c.now); // a whole burst refills in 2000 ms: the sweep interval
  t.ok(r.take('a'));
  t.ok(r.take('a'));
  t.ok(r.take('b'));
  c.advance(1500);
  t.ok(r.take('d'), 'd, new at 1500: no sweep before 2000');
  t.equal(r.size, 3);
  c.advance(500); // t = 2000: a and b full again, d at 1.5 of 2
  t.ok(r.take('e'), 'a new key at 2000 sweeps');
  t.equal(r.size, 2, 'a and b were forgotten, d and e are kept');
  t.ok(r.take('d'), 'd keeps its state: one token and a half');
  t.notOk(r.take('d'), 'half a token is none: a kept bucket still limits');
  t.ok(r.take('a') && r.take('a'), 'a forgotten key starts as a fresh one: a full burst');
  t.notOk(r.take('a'));
});

t.test('RateTable: the size never exceeds maxKeys, fed ten times as many distinct keys', async (t) => {
  const c = clock();
  const maxKeys = 64;
  const r = new RateTable(0.001, 1, maxKeys, c.now); // no refill, no sweep within the test
  let over = 0;
  for (let i = 0; i < 10 * maxKeys; i++) {
    r.take(`198.51.100.${i}`);
    if (r.size > maxKeys) over++;
  }
  t.equal(over, 0, 'never over');
  t.equal(r.size, maxKeys, 'and full: the table keeps what it may');
  // The same with time moving, so that sweeps run among the evictions.
  const r2 = new RateTable(10, 10, maxKeys, c.now);
  for (let i = 0; i < 10 * maxKeys; i++) {
    c.advance(7);
    r2.take(`k${i % (3 * maxKeys)}`);
    if (r2.size > maxKeys) over++;
  }
  t.equal(over, 0, 'never over with sweeps in between');
});

t.test('RateTable: eviction only ever errs towards admitting (against an unbounded table)', async (t) => {
  // The same requests against a table of maxKeys and against a plain map of buckets on the same
  // clock: for every key, the bounded one has admitted at least as many as the unbounded one, at
  // every step. (Not step by step: a key evicted and then admitted from a fresh bucket may be
  // refused later where the unbounded bucket, never spent then, has saved up a token.)
  const step = fc.record({ key: fc.integer({ min: 0, max: 11 }), dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3000 })) });
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 6 }), fc.constantFrom(0.5, 1, 2.5), (steps, maxKeys, rate) => {
      let now = 0;
      const burst = Math.max(1, Math.ceil(rate));
      const bounded = new RateTable(rate, burst, maxKeys, () => now);
      const model = new Map<number, TokenBucket>();
      const lead = new Map<number, number>(); // admitted by the bounded table minus by the model, per key
      for (const s of steps) {
        now += s.dt;
        let m = model.get(s.key);
        if (m === undefined) { m = new TokenBucket(rate, burst, () => now); model.set(s.key, m); }
        const want = m.take();
        const got = bounded.take(String(s.key));
        const l = (lead.get(s.key) ?? 0) + (got ? 1 : 0) - (want ? 1 : 0);
        if (l < 0) return false; // has refused, all told, what an unbounded table admits
        lead.set(s.key, l);
        if (bounded.size > maxKeys) return false;
      }
      return true;
    }),
    { numRuns: 500 },
  );
  // And it does err: with room for one key, a second key pushes the first out, which then starts full.
  const c = clock();
  const r = new RateTable(0.001, 1, 1, c.now);
  t.ok(r.take('a'));
  t.notOk(r.take('a'));
  t.ok(r.take('b'));
  t.equal(r.size, 1);
  t.ok(r.take('a'), 'a was evicted, so it is admitted again');
});

t.test('ByteThrottle: 0 within the budget, then the wait for the debt; the debt is repaid over time', async (t) => {
  const c = clock();
  const b = new ByteThrottle(1000, c.now); // burst: one second's worth
  t.equal(b.spend(400), 0);
  t.equal(b.spend(600), 0, 'exactly the budget: no wait');
  t.equal(b.spend(500), 500, '500 bytes of debt at 1000 B/s: 500 ms');
  c.advance(250);
  t.equal(b.spend(0), 250, 'half the debt repaid after 250 ms');
  c.advance(250);
  t.equal(b.spend(0), 0, 'repaid');
  t.equal(b.spend(1), 1, 'and nothing saved beyond it');
  c.advance(60_000);
  t.equal(b.spend(1000), 0, 'a long idle saves up one second');
  t.equal(b.spend(2000), 2000, 'and no more');
});

t.test('ByteThrottle: the debt is shared by every spender of the budget; waits round up', async (t) => {
  const c = clock();
  const shared = new ByteThrottle(1000, c.now);
  t.equal(shared.spend(1000), 0);
  t.equal(shared.spend(100), 100, 'first connection');
  t.equal(shared.spend(100), 200, 'the second waits for both debts');
  c.advance(200);
  t.equal(shared.spend(0), 0);
  const odd = new ByteThrottle(3, c.now);
  t.equal(odd.spend(3), 0);
  t.equal(odd.spend(1), 334, 'one byte at 3 B/s: 333.3 ms, rounded up so the debt is paid when reading resumes');
  c.advance(334);
  t.equal(odd.spend(0), 0);
});

t.test('ByteThrottle: over a long run the bytes admitted follow the rate', async (t) => {
  // A reader that pauses as told: after each chunk it waits the answer (on the fake clock).
  const c = clock(0);
  const b = new ByteThrottle(10_000, c.now);
  let bytes = 0;
  while (c.now() < 100_000) {
    bytes += 4096;
    const wait = b.spend(4096);
    c.advance(Math.max(wait, 1));
  }
  // 100 s at 10 kB/s plus the first second's burst and one chunk.
  t.ok(bytes <= 10_000 * 100 + 10_000 + 4096, `${bytes} bytes in 100 s`);
  t.ok(bytes >= 10_000 * 100, 'and no less than the rate');
});
