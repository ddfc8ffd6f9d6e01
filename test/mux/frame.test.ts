import t from 'tap';
import fc from 'fast-check';
import { FramePacker, parseFrames, encodeOpenMetadata, decodeOpenMetadata, maxOpenMetadataSize, FrameType, type FrameSink } from '../../src/mux/frame.js';
import { ChunkQueue } from '../../src/mux/queue.js';
import { oracleDecode, oracleEncode, oracleMeta, oracleOpenPayload, u32, type OracleFrame } from '../../support/index.js';

function collect(message: Buffer): OracleFrame[] | 'truncated' {
  const out: OracleFrame[] = [];
  let truncated = false;
  const sink: FrameSink = {
    frame(type, flags, streamId, payload) {
      out.push({ type, flags, streamId, payload: Uint8Array.from(payload) });
      return true;
    },
    truncated() {
      truncated = true;
    },
  };
  parseFrames(message, sink);
  return truncated ? 'truncated' : out;
}

const frameArb = fc.record({
  type: fc.integer({ min: 0, max: 255 }),
  flags: fc.constant(0),
  streamId: fc.integer({ min: 0, max: 0xffffffff }),
  payload: fc.uint8Array({ maxLength: 300 }),
});

t.test('FramePacker writes what the oracle writes', async (t) => {
  fc.assert(
    fc.property(fc.array(frameArb, { maxLength: 20 }), (frames) => {
      const packer = new FramePacker(65519);
      for (const f of frames) packer.put(f.type, f.streamId, f.payload);
      return packer.take().equals(oracleEncode(frames));
    }),
    { numRuns: 300 },
  );
  const p = new FramePacker(1024);
  p.putU32(FrameType.WINDOW_UPDATE, 7, 0xdeadbeef);
  t.same(p.take(), oracleEncode([{ type: 2, flags: 0, streamId: 7, payload: Uint8Array.of(0xde, 0xad, 0xbe, 0xef) }]));
  // A view goes in without the rest of its buffer.
  p.put(FrameType.DATA, 3, Buffer.from('hello world').subarray(6));
  t.same(collect(p.take()), [{ type: 0, flags: 0, streamId: 3, payload: Uint8Array.from(Buffer.from('world')) }]);
});

/** A send queue over `chunks`, as a stream's is. */
function source(chunks: Uint8Array[]): ChunkQueue {
  const q = new ChunkQueue();
  for (const c of chunks) q.push(Buffer.from(c));
  return q;
}

const streamFrameArb = fc.oneof(
  fc.record({ kind: fc.constant('data' as const), streamId: fc.integer({ min: 1, max: 0xffffffff }), chunks: fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 1, maxLength: 4 }), keep: fc.nat() }),
  fc.record({ kind: fc.constant('open' as const), streamId: fc.integer({ min: 1, max: 0xffffffff }), meta: fc.uint8Array({ minLength: 5, maxLength: 100 }), chunks: fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 4 }), keep: fc.nat() }),
  fc.record({ kind: fc.constant('u32' as const), type: fc.constantFrom(FrameType.WINDOW_UPDATE, FrameType.RST, FrameType.GO_AWAY), streamId: fc.integer({ min: 0, max: 0xffffffff }), value: fc.integer({ min: 0, max: 0xffffffff }) }),
  fc.record({ kind: fc.constant('empty' as const), type: fc.constantFrom(FrameType.FIN, FrameType.CLOSE), streamId: fc.integer({ min: 0, max: 0xffffffff }) }),
);

t.test('DATA, OPEN, u32 and empty frames are laid out as the oracle lays them out', async () => {
  fc.assert(
    fc.property(fc.array(streamFrameArb, { maxLength: 12 }), (frames) => {
      const packer = new FramePacker(65519);
      const want: OracleFrame[] = [];
      for (const f of frames) {
        if (f.kind === 'u32') {
          packer.putU32(f.type, f.streamId, f.value);
          want.push({ type: f.type, flags: 0, streamId: f.streamId, payload: u32(f.value) });
        } else if (f.kind === 'empty') {
          packer.put(f.type, f.streamId);
          want.push({ type: f.type, flags: 0, streamId: f.streamId, payload: new Uint8Array(0) });
        } else {
          // Take some of the queued bytes, across chunk boundaries: the rest stays queued.
          const all = Buffer.concat(f.chunks);
          const n = all.length === 0 ? 0 : f.keep % (all.length + 1);
          const q = source(f.chunks);
          if (f.kind === 'data') {
            packer.putData(f.streamId, q, n);
            want.push({ type: FrameType.DATA, flags: 0, streamId: f.streamId, payload: all.subarray(0, n) });
          } else {
            packer.putOpen(f.streamId, Buffer.from(f.meta), q, n);
            want.push({ type: FrameType.OPEN, flags: 0, streamId: f.streamId, payload: oracleOpenPayload(f.meta, all.subarray(0, n)) });
          }
          if (q.bytes !== all.length - n) return false;
        }
      }
      return packer.take().equals(oracleEncode(want));
    }),
    { numRuns: 300 },
  );
});

t.test('room() counts what one more frame may carry; a frame of exactly that fills the message', async (t) => {
  const p = new FramePacker(64);
  t.equal(p.room(), 56);
  p.putU32(FrameType.RST, 1, 0);
  t.equal(p.length, 12);
  t.equal(p.room(), 44);
  p.putData(1, source([new Uint8Array(30), new Uint8Array(30)]), p.room());
  t.equal(p.length, 64, 'full');
  t.equal(p.room(), -8);
  t.equal(p.take().length, 64);
  t.equal(p.length, 0, 'take() starts the next message');
  const meta = Buffer.from('metadata');
  p.putU32(FrameType.WINDOW_UPDATE, 0, 1);
  t.equal(p.openRoom(meta), 64 - 12 - 8 - 2 - meta.length, 'openRoom: after the header, the u16 length and the metadata');
  p.putOpen(3, meta, source([new Uint8Array(64)]), p.openRoom(meta));
  t.equal(p.length, 64, 'an OPEN with that much first data fills the message');
  t.same(collect(p.take())[1], { type: FrameType.OPEN, flags: 0, streamId: 3, payload: oracleOpenPayload(meta, new Uint8Array(64 - 12 - 8 - 2 - meta.length)) });
  t.equal(maxOpenMetadataSize(65519), 65519 - 8 - 2, 'the largest metadata leaves room for the header and its length');
});

t.test('parseFrames reads what the oracle reads, at every cut', async () => {
  fc.assert(
    fc.property(fc.array(frameArb, { maxLength: 10 }), fc.nat(), (frames, cutSeed) => {
      const bytes = oracleEncode(frames);
      const whole = collect(bytes);
      if (JSON.stringify(whole) !== JSON.stringify(oracleDecode(bytes))) return false;
      const cut = bytes.length === 0 ? 0 : cutSeed % bytes.length;
      return JSON.stringify(collect(bytes.subarray(0, cut))) === JSON.stringify(oracleDecode(bytes.subarray(0, cut)));
    }),
    { numRuns: 500 },
  );
});

t.test('parseFrames hands out views of the message, not copies', async (t) => {
  const msg = oracleEncode([{ type: 0, flags: 0, streamId: 1, payload: Uint8Array.of(1, 2, 3) }]);
  let view: Buffer | undefined;
  parseFrames(msg, { frame: (_t, _f, _i, p) => ((view = p), true), truncated: () => {} });
  msg[8] = 9;
  t.equal(view![0], 9);
});

t.test('open metadata round-trips and matches the oracle', async (t) => {
  const str = fc.string({ unit: 'grapheme', maxLength: 40 });
  fc.assert(
    fc.property(str.filter((s) => s.length > 0), fc.option(str), fc.option(fc.integer({ min: 1, max: 65535 })), fc.option(str), (tunnelId, addr, port, sni) => {
      const m = { tunnelId, clientAddress: addr || undefined, clientPort: port ?? undefined, serverName: sni || undefined };
      const enc = encodeOpenMetadata(m);
      if (!enc.equals(Buffer.from(oracleMeta(m)))) return false;
      const dec = decodeOpenMetadata(enc);
      const want: Record<string, unknown> = { tunnelId };
      if (m.clientAddress) want.clientAddress = m.clientAddress;
      if (m.clientPort) want.clientPort = m.clientPort;
      if (m.serverName) want.serverName = m.serverName;
      return JSON.stringify(dec) === JSON.stringify(want);
    }),
    { numRuns: 300 },
  );
  t.throws(() => encodeOpenMetadata({ tunnelId: '' }), RangeError);
  t.throws(() => encodeOpenMetadata({ tunnelId: 'x'.repeat(256) }), RangeError);
  t.throws(() => encodeOpenMetadata({ tunnelId: 'x', clientPort: 70000 }), RangeError);
});

t.test('malformed metadata is a reason, never a throw', async (t) => {
  const good = encodeOpenMetadata({ tunnelId: 'tun', clientAddress: '10.0.0.1', clientPort: 443, serverName: 'a.example' });
  for (let cut = 0; cut < good.length; cut++) t.type(decodeOpenMetadata(good.subarray(0, cut)), 'string', `cut at ${cut}`);
  t.type(decodeOpenMetadata(Buffer.concat([good, Buffer.of(0)])), 'string', 'trailing byte');
  t.type(decodeOpenMetadata(Buffer.of(0, 0, 0, 0, 0)), 'string', 'empty tunnel id');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const r = decodeOpenMetadata(Buffer.from(bytes));
      return typeof r === 'string' || typeof r.tunnelId === 'string';
    }),
    { numRuns: 500 },
  );
});
