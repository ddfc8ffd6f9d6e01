import t from 'tap';
import fc from 'fast-check';
import { FramePacker, parseFrames, encodeOpenMetadata, decodeOpenMetadata, maxOpenMetadataSize, FrameType, type FrameSink } from '../../src/mux/frame.js';
import { ChunkQueue } from '../../src/mux/queue.js';
import { DEFAULT_MUX_CONFIG } from '../../src/mux/config.js';
import type { OpenMetadata } from '../../src/mux/frame.js';
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

// ---- OPEN metadata layout 2 (docs/protocol.md "OPEN metadata"): server address, port, ALPN ----

/** The slow, obviously-correct layout 2: the oracle's layout 1, then u8 len + server address, u16 port, u16 len + ALPN list. */
function oracleMeta2(m: OpenMetadata): Uint8Array {
  const srv = new TextEncoder().encode(m.serverAddress ?? '');
  const port = m.serverPort ?? 0;
  const list: number[] = [];
  for (const name of m.alpn ?? []) list.push(name.length, ...[...name].map((c) => c.charCodeAt(0))); // latin1: one byte a char
  return Uint8Array.from([...oracleMeta(m), srv.length, ...srv, Math.floor(port / 256), port % 256, Math.floor(list.length / 256), list.length % 256, ...list]);
}

/** An ALPN name as the ClientHello reader returns it: 1..n bytes, each a latin1 char, non-ASCII included. */
const alpnName = (max: number) => fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: max }).map((b) => String.fromCharCode(...b));

t.test('OPEN metadata layout 2 round-trips and matches the oracle', async (t) => {
  const str = fc.string({ unit: 'grapheme', maxLength: 40 });
  fc.assert(
    fc.property(
      str.filter((s) => s.length > 0), fc.option(str), fc.option(fc.integer({ min: 1, max: 65535 })), fc.option(str),
      str, fc.integer({ min: 0, max: 65535 }), fc.array(alpnName(40), { maxLength: 20 }), // at most 20 × 41 bytes: all of it fits
      (tunnelId, addr, port, sni, serverAddress, serverPort, alpn) => {
        const m: OpenMetadata = { tunnelId, clientAddress: addr || undefined, clientPort: port ?? undefined, serverName: sni || undefined, serverAddress, serverPort, alpn };
        const enc = encodeOpenMetadata(m);
        if (!enc.equals(Buffer.from(oracleMeta2(m)))) return false;
        const want: Record<string, unknown> = { tunnelId };
        if (m.clientAddress) want.clientAddress = m.clientAddress;
        if (m.clientPort) want.clientPort = m.clientPort;
        if (m.serverName) want.serverName = m.serverName;
        if (serverAddress) want.serverAddress = serverAddress;
        if (serverPort) want.serverPort = serverPort;
        want.alpn = alpn;
        return JSON.stringify(decodeOpenMetadata(enc)) === JSON.stringify(want);
      },
    ),
    { numRuns: 300 },
  );
  const m = { tunnelId: 'tls:app', clientAddress: '2001:db8::7', clientPort: 50000, serverName: 'app.example.test', serverAddress: '203.0.113.1', serverPort: 443, alpn: ['h2', 'http/1.1', '\xff\x00\x80é'] };
  t.same(decodeOpenMetadata(encodeOpenMetadata(m)), m, 'non-ASCII ALPN bytes come back byte for byte');
  t.same(decodeOpenMetadata(encodeOpenMetadata({ tunnelId: 't', alpn: [] })), { tunnelId: 't', alpn: [] }, 'an empty ALPN list is still layout 2');
  t.equal(encodeOpenMetadata({ tunnelId: 't', serverPort: 443 }).length, 1 + 1 + 1 + 2 + 1 + 1 + 2 + 2, 'any layout-2 field writes the whole layout-2 tail');
  t.throws(() => encodeOpenMetadata({ tunnelId: 't', serverPort: 65536 }), RangeError);
  t.throws(() => encodeOpenMetadata({ tunnelId: 't', serverAddress: 'x'.repeat(256) }), RangeError);
});

t.test('layout 1 still decodes, and still is what is written without layout-2 fields', async (t) => {
  const m = { tunnelId: 'tun', clientAddress: '10.0.0.1', clientPort: 443, serverName: 'a.example' };
  const one = Buffer.from(oracleMeta(m));
  t.ok(encodeOpenMetadata(m).equals(one), 'no layout-2 field: layout 1 on the wire (an older agent reads it)');
  const dec = decodeOpenMetadata(one);
  t.same(dec, m);
  t.notOk(typeof dec === 'object' && ('serverAddress' in dec || 'serverPort' in dec || 'alpn' in dec), 'no layout-2 fields, not even empty ones');
  t.same(decodeOpenMetadata(Buffer.from(oracleMeta({ tunnelId: 'x' }))), { tunnelId: 'x' });
});

t.test('malformed layout-2 tails are a reason, never a throw and never half a metadata', async (t) => {
  const base = Buffer.from(oracleMeta({ tunnelId: 'tun', clientAddress: '10.0.0.1', clientPort: 443, serverName: 'a.example' }));
  const h2 = [2, 0x68, 0x32];
  const tails: Array<[string, number[]]> = [
    ['server address length past the end', [5, 0x61, 0x62]],
    ['server address, no port', [0]],
    ['server address and half a port', [0, 1]],
    ['port, no ALPN length', [0, 1, 187]],
    ['port, half an ALPN length', [0, 1, 187, 0]],
    ['ALPN length past the end', [0, 1, 187, 0, 5, ...h2]],
    ['ALPN length short of the list: trailing bytes', [0, 1, 187, 0, 2, ...h2]],
    ['zero-length name', [0, 1, 187, 0, 1, 0]],
    ['zero-length name after a good one', [0, 1, 187, 0, 4, ...h2, 0]],
    ['name length past the list', [0, 1, 187, 0, 3, 5, 0x61, 0x62]],
    ['trailing byte after a good list', [0, 1, 187, 0, 3, ...h2, 0]],
    ['trailing bytes after an empty list', [0, 1, 187, 0, 0, 9, 9]],
  ];
  for (const [why, tail] of tails) t.type(decodeOpenMetadata(Buffer.concat([base, Buffer.from(tail)])), 'string', why);
  // An ALPN list over the 256 bytes a decoder takes, though well formed: refused, not read.
  const over: number[] = [];
  while (over.length < 257) over.push(4, 0x61, 0x62, 0x63, 0x64); // 52 whole names: 260 bytes
  t.type(decodeOpenMetadata(Buffer.concat([base, Buffer.from([0, 1, 187, over.length >> 8, over.length & 255, ...over])])), 'string', 'ALPN list over 256 bytes');
  // Every cut of a good layout 2 past the end of layout 1 is malformed; the cut at layout 1's end is layout 1.
  const full = encodeOpenMetadata({ tunnelId: 'tun', clientAddress: '10.0.0.1', clientPort: 443, serverName: 'a.example', serverAddress: '203.0.113.1', serverPort: 443, alpn: ['h2', 'http/1.1'] });
  t.same(decodeOpenMetadata(full.subarray(0, base.length)), { tunnelId: 'tun', clientAddress: '10.0.0.1', clientPort: 443, serverName: 'a.example' });
  for (let cut = base.length + 1; cut < full.length; cut++) t.type(decodeOpenMetadata(full.subarray(0, cut)), 'string', `cut at ${cut}`);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (tail) => {
      const r = decodeOpenMetadata(Buffer.concat([base, tail]));
      if (typeof r === 'string') return true;
      // Accepted: a whole, well-formed layout 2 (or layout 1 when there was no tail).
      if (tail.length === 0) return r.alpn === undefined;
      return Array.isArray(r.alpn) && r.alpn.every((n) => n.length >= 1 && n.length <= 255) && encodeOpenMetadata(r).length === base.length + tail.length;
    }),
    { numRuns: 1000 },
  );
});

t.test('the encoder leaves out ALPN names it cannot carry: empty, over 255 bytes, past the 256-byte total', async (t) => {
  const dec = (alpn: string[]): string[] | undefined => {
    const r = decodeOpenMetadata(encodeOpenMetadata({ tunnelId: 't', alpn }));
    return typeof r === 'string' ? undefined : r.alpn;
  };
  t.same(dec(['h2', 'x'.repeat(256), '', 'http/1.1']), ['h2', 'http/1.1'], 'too long and empty names left out, the others kept in order');
  t.same(dec(['y'.repeat(255)]), ['y'.repeat(255)], 'exactly 255 bytes is carried');
  const ten = Array.from({ length: 10 }, (_, i) => String.fromCharCode(0x61 + i).repeat(50));
  const got = dec(ten)!;
  t.same(got.slice(0, 5), ten.slice(0, 5), 'five names of 50 bytes take 255 of the 256');
  t.notOk(got.some((n) => ten.slice(5).includes(n)), 'a sixth would pass 256: left out, and every later one of its size');
  t.ok(got.reduce((a, n) => a + 1 + n.length, 0) <= 256, 'the list the encoder writes is one the decoder takes');
  fc.assert(
    fc.property(fc.array(fc.oneof(alpnName(300), fc.constant('')), { maxLength: 40 }), (alpn) => {
      const r = dec(alpn);
      if (r === undefined) return false; // the encoder wrote something the decoder refuses
      let i = 0; // the names carried are the input's, in order, each 1..255 bytes
      for (const n of r) {
        while (i < alpn.length && alpn[i] !== n) i++;
        if (i++ >= alpn.length || n.length < 1 || n.length > 255) return false;
      }
      return r.reduce((a, n) => a + 1 + n.length, 0) <= 256;
    }),
    { numRuns: 300 },
  );
});

t.test("a client's ALPN list, however long, never makes the relay's OPEN metadata too large for the mux", async (t) => {
  // The front door passes the ClientHello's whole ALPN list; the encoder trims it to 256 bytes.
  // The mux refuses metadata over maxOpenMetadata (1024 by default, on both ends): the stream
  // would not open, and the client would be refused as if no agent served the name.
  const longestAddress = 'ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255';
  const meta: OpenMetadata = {
    tunnelId: 'tls:app', clientAddress: longestAddress, clientPort: 65535, serverName: 'app.example.test',
    serverAddress: longestAddress, serverPort: 443,
    alpn: Array.from({ length: 400 }, (_, i) => `proto-${i}`), // a hostile (or odd) client's list: 3.6 kB
  };
  const encoded = encodeOpenMetadata(meta);
  t.ok(encoded.length <= DEFAULT_MUX_CONFIG.maxOpenMetadata,
    `layout 2 with a long ALPN list is ${encoded.length} bytes; the mux's default limit is ${DEFAULT_MUX_CONFIG.maxOpenMetadata}`);
  const r = decodeOpenMetadata(encoded);
  t.ok(typeof r === 'object' && r.alpn !== undefined && r.alpn[0] === 'proto-0', 'and what is carried of the list is its head');
});
