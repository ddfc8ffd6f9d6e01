import t from 'tap';
import { sessionPair } from './util.js';
import { SendBudget, type Session, type Stream } from '../../src/mux/index.js';

const CHUNK = Buffer.alloc(64 * 1024, 0x62);
const MiB = 1024 * 1024;

/** Writes CHUNK to each new stream until it reports backpressure; all in one turn, before any flush. */
function fill(session: Session, streams: number): Stream[] {
  return Array.from({ length: streams }, (_, i) => {
    const s = session.openStream({ tunnelId: `s${i}` });
    while (s.write(CHUNK)) { /* until backpressure */ }
    return s;
  });
}

const queued = (streams: Stream[]): number => streams.reduce((n, s) => n + s.writableLength, 0);

t.test('queued send bytes stop at the session budget, not at streams × their high-water mark', async (t) => {
  const sp = await sessionPair({ maxSessionQueued: MiB });
  t.teardown(() => sp.close());
  const held: Stream[] = [];
  sp.server.onStream = (s) => { held.push(s); s.pause(); }; // a reader that takes nothing
  const streams = fill(sp.client, 20);
  const total = queued(streams);
  t.ok(total <= MiB + 20 * CHUNK.length, `${(total / MiB).toFixed(2)} MiB queued for 20 streams (budget 1 MiB; each stream alone could queue 256 KiB)`);
  // The reader comes back: credit flows, the queue empties, and every stream is told it may write again.
  let drained = 0;
  const drains = streams.map((s) => new Promise<void>((r) => { s.onDrain = () => { drained++; r(); }; }));
  await sp.client.ping();
  for (const s of held) { s.onData = () => {}; s.resume(); }
  await Promise.all(drains);
  t.equal(drained, 20, 'every stream may write again once the reader takes the bytes');
});

t.test('one budget shared by two sessions bounds them together', async (t) => {
  const budget = new SendBudget(MiB); // as the relay holds one for all its agent sessions
  const pairs = [await sessionPair({}, {}, budget), await sessionPair({}, {}, budget)];
  t.teardown(() => { for (const sp of pairs) sp.close(); });
  for (const sp of pairs) sp.server.onStream = (s) => s.pause();
  const streams = [...fill(pairs[0].client, 10), ...fill(pairs[1].client, 10)];
  t.ok(budget.queued <= MiB + 20 * CHUNK.length, `${(budget.queued / MiB).toFixed(2)} MiB queued across two sessions (budget 1 MiB)`);
  t.equal(budget.queued, queued(streams), 'the budget counts exactly what the streams hold');
  for (const s of streams) s.destroy();
  t.equal(budget.queued, 0, 'a reset stream gives its bytes back');
});

t.test('a stream waiting on the budget wakes as soon as there is room, while stalled streams hold most of it', { timeout: 20_000 }, async (t) => {
  const budget = 900 * 1024;
  const sp = await sessionPair({ maxSessionQueued: budget });
  t.teardown(() => sp.close());
  sp.server.onStream = (s) => { if (s.meta.tunnelId === 'live') s.onData = () => {}; else s.pause(); };
  const stalled = fill(sp.client, 3);
  await sp.client.ping(); // their first window has gone out; no more credit will come back
  for (const s of stalled) while (s.write(CHUNK)) { /* until each holds its high-water mark */ }
  const held = queued(stalled);
  t.ok(held > budget / 2, `${(held / 1024).toFixed(0)} KiB held for good by stalled streams`);
  const live = sp.client.openStream({ tunnelId: 'live' });
  let wrote = 0;
  while (live.write(CHUNK)) wrote += CHUNK.length;
  t.ok(wrote < 256 * 1024, 'the live stream stopped at the budget, below its own high-water mark');
  const heldWhenDrained = await new Promise<number>((resolve) => { live.onDrain = () => resolve(queued(stalled)); });
  t.ok(heldWhenDrained > budget / 2, `it was drained while the stalled streams still held ${(heldWhenDrained / 1024).toFixed(0)} KiB (of ${(held / 1024).toFixed(0)})`);
});
