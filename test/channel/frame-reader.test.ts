// FrameReader: length-prefixed messages out of TCP chunks of any size, and out of one reused read buffer.
import t from 'tap';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { FrameReader } from '../../src/channel/frame-reader.js';

t.test('FrameReader.retain: reads landing in one reused buffer still yield every message intact', async (t) => {
  // Every "read" overwrites the same buffer, as a socket with onread does; retain() must have
  // copied out what was left before that. Messages are read only some of the time (a paused
  // channel), so the leftovers sometimes exceed the carry size and take the allocating path.
  t.doesNotThrow(() => fc.assert(fc.property(
    fc.array(fc.integer({ min: 0, max: 700 }), { minLength: 1, maxLength: 30 }),
    fc.array(fc.integer({ min: 1, max: 900 }), { minLength: 1, maxLength: 40 }),
    fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }),
    (sizes, cuts, reads) => {
      const msgs = sizes.map((n) => randomBytes(n));
      const stream = Buffer.concat(msgs.flatMap((m) => { const l = Buffer.alloc(2); l.writeUInt16BE(m.length); return [l, m]; }));
      const reused = Buffer.alloc(900);
      const r = new FrameReader();
      const out: Buffer[] = [];
      const drain = (): void => { for (let f = r.readFrame(); f !== null; f = r.readFrame()) out.push(Buffer.from(f)); };
      let at = 0;
      for (let i = 0; at < stream.length; i++) {
        const n = Math.min(cuts[i % cuts.length], stream.length - at);
        stream.copy(reused, 0, at, at + n);
        at += n;
        r.push(reused.subarray(0, n));
        if (reads[i % reads.length]) drain();
        r.retain(702);
        reused.fill(0xee); // the next read overwrites it
      }
      drain();
      return out.length === msgs.length && out.every((m, i) => m.equals(msgs[i])) && r.bufferedBytes === 0;
    },
  ), { numRuns: 300 }), '300 random streams, cut and paused at random, read back intact');
});

t.test('FrameReader: every split of a byte stream yields the same messages; views when whole', async (t) => {
  const msgs = [randomBytes(0), randomBytes(1), randomBytes(300), randomBytes(2), randomBytes(70)];
  const stream = Buffer.concat(msgs.flatMap((m) => { const l = Buffer.alloc(2); l.writeUInt16BE(m.length); return [l, m]; }));
  const disagreeing: string[] = [];
  for (let a = 0; a <= stream.length; a++) {
    for (const b of [a, Math.min(stream.length, a + 1), Math.min(stream.length, a + 3), stream.length]) {
      const r = new FrameReader();
      const out: Buffer[] = [];
      for (const piece of [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]) {
        r.push(piece);
        for (let f = r.readFrame(); f !== null; f = r.readFrame()) out.push(Buffer.from(f));
      }
      if (out.length !== msgs.length || out.some((m, i) => !m.equals(msgs[i]))) disagreeing.push(`${a}/${b}`);
    }
  }
  t.same(disagreeing, [], 'every split point yields the same messages');
  const r = new FrameReader(); r.push(stream);
  const first = r.readFrame()!; r.readFrame(); const third = r.readFrame()!;
  t.equal(first.length, 0);
  t.equal(third.buffer, stream.buffer, 'a message inside one chunk is a view, not a copy');
});
