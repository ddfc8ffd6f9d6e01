// The HTTP/2-era flood classes against the mux, from a raw peer: each must cost the victim a
// bounded amount (replies, log lines, memory), and the session must go on or end with a typed
// error; never a crash, a hang or one reply per frame.
import t, { type Test } from 'tap';
import { channelPair, oracleDecode, oracleEncode, oracleMeta, oracleOpenPayload, u32, type OracleFrame } from '../../support/index.js';
import { Session, type MuxError, type Stream } from '../../src/mux/index.js';
import { captureLogger } from '../helpers/log.js';

const F = { DATA: 0, OPEN: 1, WINDOW_UPDATE: 2, FIN: 3, RST: 4, PING: 5, PONG: 6 };
const frame = (type: number, streamId: number, payload: Uint8Array = new Uint8Array(0)): OracleFrame => ({ type, flags: 0, streamId, payload });
const ping = (n: number): OracleFrame => { const p = Buffer.alloc(8); p.writeUInt32BE(n, 4); return frame(F.PING, 0, p); };
const open = (id: number, data?: Uint8Array) => frame(F.OPEN, id, oracleOpenPayload(oracleMeta({ tunnelId: 'flood' }), data));

/** A session under attack from a raw peer that packs as many frames as fit into each message. */
async function victim(t: Test, read = true) {
  const pair = await channelPair();
  const { logger, lines } = captureLogger();
  const session = new Session(pair.a, { role: 'client', logger });
  const streams: Stream[] = [];
  session.onStream = (s) => { streams.push(s); if (read) s.onData = () => {}; };
  let closedWith: MuxError | undefined | 'open' = 'open';
  session.onClose = (e) => { closedWith = e; };
  const received: OracleFrame[] = [];
  pair.b.onMessage = (m) => {
    const f = oracleDecode(m);
    if (f === 'truncated') return;
    received.push(...f);
    // The raw peer answers pings, so that the victim's ping() tells when it has read everything before.
    const pings = f.filter((x) => x.type === F.PING);
    if (pings.length > 0) pair.b.send(oracleEncode(pings.map((x) => frame(F.PONG, 0, x.payload))));
  };
  t.teardown(() => { session.destroy(); pair.close(); });
  /** Packs the frames into as few messages as they fit (65,519 bytes of frames each). */
  const send = (frames: OracleFrame[]): void => {
    let batch: OracleFrame[] = [];
    let size = 0;
    for (const f of frames) {
      const n = 8 + f.payload.length;
      if (size + n > 65_519) { pair.b.send(oracleEncode(batch)); batch = []; size = 0; }
      batch.push(f);
      size += n;
    }
    if (batch.length > 0) pair.b.send(oracleEncode(batch));
  };
  return { session, streams, received, lines, send, closed: () => closedWith };
}

t.test('PING flood: one PONG per turn, not one per PING', async (t) => {
  const v = await victim(t);
  v.send(Array.from({ length: 80_000 }, (_, i) => ping(i + 1)));
  await v.session.ping(); // our own ping's PONG comes back after the flood was read
  const pongs = v.received.filter((f) => f.type === F.PONG).length;
  t.ok(pongs < 100, `${pongs} PONGs for 80,000 PINGs`);
  t.equal(v.closed(), 'open', 'the session goes on');
});

t.test('WINDOW_UPDATE flood: accepted until it would overflow, then PROTOCOL_ERROR', async (t) => {
  const v = await victim(t);
  v.send(Array.from({ length: 40_000 }, () => frame(F.WINDOW_UPDATE, 0, u32(1))));
  await v.session.ping();
  t.equal(v.closed(), 'open', 'small increments are harmless');
  v.send([frame(F.WINDOW_UPDATE, 0, u32(0x7fffffff))]);
  await new Promise<void>((resolve) => { const c = v.session.onClose; v.session.onClose = (e) => { c(e); resolve(); }; });
  t.equal((v.closed() as MuxError).code, 'PROTOCOL_ERROR', 'an overflowing increment ends the session');
});

t.test('zero-length DATA flood: nothing delivered, nothing held', async (t) => {
  const v = await victim(t);
  v.send([open(2), ...Array.from({ length: 80_000 }, () => frame(F.DATA, 2))]);
  await v.session.ping();
  t.equal(v.streams.length, 1);
  t.equal(v.streams[0].readableLength, 0, 'nothing buffered');
  t.equal(v.streams[0].bytesRead, 0, 'nothing delivered');
  t.equal(v.closed(), 'open');
});

t.test('OPEN+RST flood: every stream gone, few log lines', async (t) => {
  const v = await victim(t);
  const frames: OracleFrame[] = [];
  for (let id = 2; id <= 40_000; id += 2) frames.push(open(id), frame(F.RST, id, u32(0)));
  v.send(frames);
  await v.session.ping();
  t.equal(v.streams.length, 20_000, 'each OPEN reached the application');
  t.equal(v.session.streamCount, 0, 'and every one was reset and forgotten');
  t.ok(v.lines.length < 20, `${v.lines.length} log lines`);
  t.equal(v.closed(), 'open');
});

t.test('OPENs past maxStreams: refused with RST, counted in a few log lines', async (t) => {
  const v = await victim(t);
  v.send(Array.from({ length: 5000 }, (_, i) => open(2 + 2 * i)));
  await v.session.ping(); // the OPENs are read
  await v.session.ping(); // and the RSTs they caused have reached the peer
  const rsts = v.received.filter((f) => f.type === F.RST).length;
  t.equal(rsts, 5000 - 4096, 'one RST for each OPEN past the limit');
  const said = v.lines.filter((l) => l.event === 'mux.open_refused').length;
  t.ok(said <= 10, `${said} mux.open_refused lines for ${rsts} refusals`);
  t.equal(v.closed(), 'open');
});

t.test('frames for closed streams: tolerated; for streams never opened: PROTOCOL_ERROR', async (t) => {
  const v = await victim(t);
  v.send([open(2), frame(F.RST, 2, u32(0))]);
  await v.session.ping();
  v.send([frame(F.DATA, 2, Buffer.from('late')), frame(F.WINDOW_UPDATE, 2, u32(10)), frame(F.FIN, 2), frame(F.RST, 2, u32(0))]);
  await v.session.ping();
  t.equal(v.closed(), 'open', 'late frames for a stream that was open are dropped');
  v.send([frame(F.DATA, 100, Buffer.from('never'))]);
  await new Promise<void>((resolve) => { const c = v.session.onClose; v.session.onClose = (e) => { c(e); resolve(); }; });
  t.equal((v.closed() as MuxError).code, 'PROTOCOL_ERROR');
});

t.test('an OPEN and DATA past the initial window: FLOW_CONTROL', async (t) => {
  const v = await victim(t, false); // a reader that takes nothing: no credit comes back
  // The initial window is 256 KiB: an OPEN's first data and the DATA after it may not pass it.
  v.send([open(2, new Uint8Array(60_000)), ...Array.from({ length: 4 }, () => frame(F.DATA, 2, new Uint8Array(60_000)))]);
  await new Promise<void>((resolve) => { const c = v.session.onClose; v.session.onClose = (e) => { c(e); resolve(); }; });
  t.equal((v.closed() as MuxError).code, 'FLOW_CONTROL', 'data past the stream window ends the session');
});
