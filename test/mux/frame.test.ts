import t from 'tap';
import fc from 'fast-check';
import { FramePacker, parseFrames, encodeOpenMetadata, decodeOpenMetadata, FrameType, type FrameSink } from '../../src/mux/frame.js';
import { oracleDecode, oracleEncode, oracleMeta, type OracleFrame } from './frame-oracle.js';

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
  // A payload slice goes in without the rest of the buffer.
  p.put(FrameType.DATA, 3, Buffer.from('hello world'), 6, 11);
  t.same(collect(p.take()), [{ type: 0, flags: 0, streamId: 3, payload: Uint8Array.from(Buffer.from('world')) }]);
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
