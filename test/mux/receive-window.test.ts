// The receive credit arithmetic of docs/protocol.md "Flow control", without a session around it.
import t from 'tap';
import fc from 'fast-check';
import { ReceiveWindow } from '../../src/mux/receive-window.js';
import { INITIAL_WINDOW } from '../../src/mux/frame.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** The thresholds the session and its streams use. */
const streamWindow = (max: number) => new ReceiveWindow(max, 2);
const sessionWindow = (max: number) => new ReceiveWindow(max, 4, 4 * INITIAL_WINDOW);

t.test('the peer starts with the protocol credit and may not send beyond it', async (t) => {
  const w = streamWindow(INITIAL_WINDOW);
  t.equal(w.window, INITIAL_WINDOW);
  t.notOk(w.take(INITIAL_WINDOW + 1), 'one byte over the credit is refused');
  t.equal(w.window, INITIAL_WINDOW, 'and takes nothing');
  t.ok(w.take(INITIAL_WINDOW - 1));
  t.ok(w.take(1), 'exactly the credit is fine');
  t.equal(w.window, 0);
  t.notOk(w.take(1), 'no credit left: refused');
  t.ok(w.take(0), 'an empty frame needs no credit');
});

t.test('a stream grants once delta reaches half its window (yamux)', async (t) => {
  const w = streamWindow(256 * KiB);
  t.ok(w.take(128 * KiB - 1)); // consumed at once: never held
  t.equal(w.delta(), 128 * KiB - 1);
  t.notOk(w.due(), 'one byte short of max / 2: the update is omitted');
  t.ok(w.take(1));
  t.ok(w.due(), 'at max / 2 it is due');
  t.equal(w.grant(), 128 * KiB, 'the grant is delta');
  t.equal(w.window, 256 * KiB, 'and restores the full credit');
  t.equal(w.delta(), 0);
  t.notOk(w.due());
  t.equal(w.grant(), 0, 'nothing owed: nothing granted');
  t.equal(w.window, 256 * KiB);
});

t.test('held bytes keep their credit until released', async (t) => {
  const w = streamWindow(256 * KiB);
  t.ok(w.take(200 * KiB));
  w.hold(200 * KiB); // a paused consumer
  t.equal(w.delta(), 0, 'nothing consumed, nothing to give back');
  t.notOk(w.due());
  w.release(100 * KiB);
  t.notOk(w.due(), '100 KiB consumed: below the threshold');
  w.release(28 * KiB);
  t.ok(w.due(), '128 KiB consumed: due');
  t.equal(w.grant(), 128 * KiB);
  t.equal(w.window + w.buffered, w.max, 'credit plus held bytes never exceed max');
});

t.test('a grown window (auto-tuning) is granted and raises the threshold with it', async (t) => {
  const w = streamWindow(256 * KiB);
  w.max = 512 * KiB;
  t.equal(w.delta(), 256 * KiB);
  t.ok(w.due(), 'the growth alone is half the new window');
  t.equal(w.grant(), 256 * KiB);
  t.ok(w.take(256 * KiB - 1));
  t.notOk(w.due(), 'the threshold is now 256 KiB');
  t.ok(w.take(1));
  t.ok(w.due());
});

t.test('the session grants at a quarter of its cap, or 1 MiB when that is less', async (t) => {
  const big = sessionWindow(64 * MiB);
  t.ok(big.due(), 'the cap above the initial credit is granted at start');
  t.equal(big.grant(), 64 * MiB - INITIAL_WINDOW);
  t.ok(big.take(MiB - 1));
  t.notOk(big.due(), 'one byte short of 1 MiB');
  t.ok(big.take(1));
  t.ok(big.due(), 'at 1 MiB (less than 16 MiB, a quarter of the cap)');

  const small = sessionWindow(INITIAL_WINDOW);
  t.notOk(small.due(), 'a cap equal to the initial credit owes nothing at start');
  t.ok(small.take(64 * KiB - 1));
  t.notOk(small.due());
  t.ok(small.take(1));
  t.ok(small.due(), 'at a quarter of the cap (64 KiB, less than 1 MiB)');

  const odd = sessionWindow(300 * KiB);
  t.notOk(odd.due(), 'a 44 KiB difference is below the 75 KiB threshold: no update at start');
});

t.test('whatever the peer and the consumer do, credit plus held bytes stay within max', async () => {
  const op = fc.oneof(
    fc.record({ send: fc.integer({ min: 0, max: 300 * KiB }) }),
    fc.record({ consume: fc.integer({ min: 0, max: 300 * KiB }) }),
    fc.record({ flush: fc.constant(true) }),
  );
  fc.assert(
    fc.property(fc.integer({ min: INITIAL_WINDOW, max: 4 * MiB }), fc.boolean(), fc.array(op, { maxLength: 60 }), (max, session, ops) => {
      const w = session ? sessionWindow(max) : streamWindow(max);
      for (const o of ops) {
        if ('send' in o) {
          const before = w.window;
          const ok = w.take(o.send);
          if (ok !== o.send <= before) return false;
          if (ok) w.hold(o.send);
          else if (w.window !== before) return false;
        } else if ('consume' in o) {
          w.release(Math.min(o.consume, w.buffered));
        } else if (w.due()) {
          const d = w.grant();
          if (d < Math.min(max / (session ? 4 : 2), session ? 4 * INITIAL_WINDOW : Infinity)) return false;
        }
        if (w.window < 0 || w.buffered < 0 || w.window + w.buffered > Math.max(max, INITIAL_WINDOW)) return false;
      }
      return true;
    }),
    { numRuns: 500 },
  );
});
