// Every peer is hostile: a raw channel plays a peer that breaks the protocol; the session must
// end promptly with the right typed error and a log line, never crash or hang.
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { Session, type MuxConfig, type MuxError, type Stream } from '../../src/mux/index.js';
import { channelPair, oracleDecode, oracleEncode, oracleMeta, oracleOpenPayload, u32, type OracleFrame } from '../../support/index.js';
import { captureLogger } from '../helpers/log.js';

const F = { DATA: 0, OPEN: 1, WINDOW_UPDATE: 2, FIN: 3, RST: 4, PING: 5, PONG: 6, GO_AWAY: 7, CLOSE: 8 };
const frame = (type: number, streamId: number, payload: Uint8Array = new Uint8Array(0), flags = 0): OracleFrame => ({ type, flags, streamId, payload });

async function victim(t: Test, config: Partial<MuxConfig> = {}) {
  const pair = await channelPair();
  const { logger, lines } = captureLogger();
  const session = new Session(pair.a, { role: 'client', config, logger });
  const streams: Stream[] = [];
  const streamErrors: Array<Error | undefined | 'open'> = [];
  session.onStream = (s) => {
    s.pause(); // a stopped reader: no credit comes back
    const i = streams.push(s) - 1;
    streamErrors[i] = 'open';
    s.onClose = (e) => (streamErrors[i] = e);
  };
  const closed = new Promise<MuxError | undefined>((r) => (session.onClose = r));
  const received: OracleFrame[] = [];
  let waiter: { type: number; resolve: () => void } | null = null;
  pair.b.onMessage = (m) => {
    const f = oracleDecode(m);
    if (f === 'truncated') return;
    received.push(...f);
    if (waiter !== null && f.some((x) => x.type === waiter!.type)) waiter.resolve();
  };
  /** Resolves when a frame of `type` reaches the peer (from now on). */
  const arrival = (type: number) => new Promise<void>((resolve) => (waiter = { type, resolve }));
  const peerClosed = new Promise<Error | undefined>((r) => (pair.b.onClose = r));
  t.teardown(() => {
    session.destroy();
    pair.close();
  });
  const send = (...frames: OracleFrame[]) => pair.b.send(oracleEncode(frames));
  return { pair, session, streams, streamErrors, closed, peerClosed, received, arrival, send, lines };
}

const open = (id: number, data?: Uint8Array) => frame(F.OPEN, id, oracleOpenPayload(oracleMeta({ tunnelId: 'evil' }), data));

async function expectError(t: Test, v: Awaited<ReturnType<typeof victim>>, code: string) {
  const err = await v.closed;
  t.equal(err?.code, code, `session ends with ${code}`);
  t.ok(v.lines.some((l) => l.event === 'mux.session_error' && l.code === code), 'and a log line');
  await v.peerClosed; // the session tore the connection down: no hang
  return err;
}

t.test('a peer that sends beyond its stream credit: FLOW_CONTROL', async (t) => {
  const v = await victim(t);
  const chunk = new Uint8Array(60_000);
  v.send(open(2, chunk));
  for (let sent = 60_000; sent <= 256 * 1024; sent += chunk.length) v.send(frame(F.DATA, 2, chunk));
  await expectError(t, v, 'FLOW_CONTROL');
  t.equal(v.streams.length, 1);
  t.equal((v.streamErrors[0] as MuxError).code, 'FLOW_CONTROL', 'its streams error');
});

t.test('a peer that sends beyond the session credit: FLOW_CONTROL', async (t) => {
  // Session cap at the protocol minimum: two streams of 200 KiB each exceed it together.
  const v = await victim(t, { maxSessionBuffered: 256 * 1024 });
  const chunk = new Uint8Array(50_000);
  v.send(open(2), open(4));
  for (let i = 0; i < 4; i++) {
    v.send(frame(F.DATA, 2, chunk));
    v.send(frame(F.DATA, 4, chunk));
  }
  await expectError(t, v, 'FLOW_CONTROL');
});

t.test('garbage bytes: PROTOCOL_ERROR', async (t) => {
  const v = await victim(t);
  // A header whose length runs past the message end.
  v.pair.b.send(Buffer.concat([Buffer.of(0, 0, 0xff, 0xff, 0, 0, 0, 2), randomBytes(100)]));
  await expectError(t, v, 'PROTOCOL_ERROR');
});

t.test('random garbage never crashes: always PROTOCOL_ERROR or a typed end', async (t) => {
  for (let i = 0; i < 20; i++) {
    const v = await victim(t);
    v.pair.b.send(randomBytes(1 + (i * 997) % 3000));
    v.pair.b.end();
    const err = await v.closed;
    t.ok(err && ['PROTOCOL_ERROR', 'FLOW_CONTROL', 'CONNECTION_LOST'].includes(err.code), `run ${i}: ${err?.code}`);
  }
});

for (const [name, frames] of [
  ['unknown frame type', [frame(42, 0)]],
  ['reserved flags set', [frame(F.PING, 0, new Uint8Array(8), 1)]],
  ['DATA for a stream never opened', [frame(F.DATA, 2, Uint8Array.of(1))]],
  ['OPEN with the wrong parity', [open(3)]],
  ['OPEN reusing an id', [open(2), open(2)]],
  ['OPEN metadata length past the frame', [frame(F.OPEN, 2, Uint8Array.of(0, 50, 1, 65))]],
  ['window increment that overflows', [frame(F.WINDOW_UPDATE, 0, u32(0x7fffffff))]],
  ['window increment of zero', [open(2), frame(F.WINDOW_UPDATE, 2, u32(0))]],
  ['malformed WINDOW_UPDATE', [frame(F.WINDOW_UPDATE, 0, Uint8Array.of(1, 2))]],
  ['DATA after FIN', [open(2), frame(F.FIN, 2), frame(F.DATA, 2, Uint8Array.of(1))]],
  ['a second FIN', [open(2), frame(F.FIN, 2), frame(F.FIN, 2)]],
  ['PING on a stream id', [frame(F.PING, 2, new Uint8Array(8))]],
  ['short PING', [frame(F.PING, 0, new Uint8Array(3))]],
] as Array<[string, OracleFrame[]]>) {
  t.test(`${name}: PROTOCOL_ERROR`, async (t) => {
    const v = await victim(t);
    v.send(...frames);
    await expectError(t, v, 'PROTOCOL_ERROR');
  });
}

t.test('bad open metadata is refused with RST, the session goes on', async (t) => {
  const v = await victim(t, { maxOpenMetadata: 16 });
  const pong = v.arrival(F.PONG);
  v.send(frame(F.OPEN, 2, oracleOpenPayload(Uint8Array.of(0, 0, 0, 0, 0))), frame(F.OPEN, 4, oracleOpenPayload(oracleMeta({ tunnelId: 'x'.repeat(40) }))), frame(F.PING, 0, new Uint8Array(8)));
  await pong; // answered after both OPENs were handled
  const rsts = v.received.filter((f) => f.type === F.RST);
  t.same(rsts.map((f) => f.streamId), [2, 4]);
  t.equal(v.streams.length, 0);
  t.notOk(v.session.isClosed);
  t.ok(v.lines.some((l) => l.event === 'mux.open_refused'));
});

t.test('an onStream handler that throws: its stream is reset, logged, the session goes on', async (t) => {
  const v = await victim(t);
  v.session.onStream = () => {
    throw new Error('handler bug');
  };
  const pong = v.arrival(F.PONG);
  v.send(open(2, Uint8Array.of(1, 2, 3)), frame(F.PING, 0, new Uint8Array(8)));
  await pong;
  t.same(v.received.filter((f) => f.type === F.RST).map((f) => f.streamId), [2], 'RST for the stream');
  t.ok(v.lines.some((l) => l.event === 'mux.stream_handler_error' && l.stream === 2), 'a log line with its event');
  t.notOk(v.session.isClosed);
});

t.test('a peer that stops answering: KEEPALIVE_TIMEOUT, its streams reset', async (t) => {
  const v = await victim(t, { keepaliveIntervalMs: 20, keepaliveTimeoutMs: 150 });
  v.send(open(2, Uint8Array.of(1, 2, 3)));
  const mine = v.session.openStream({ tunnelId: 'out' });
  const mineErr = new Promise<Error | undefined>((r) => (mine.onClose = r));
  await expectError(t, v, 'KEEPALIVE_TIMEOUT');
  t.equal(((await mineErr) as MuxError).code, 'KEEPALIVE_TIMEOUT');
  t.ok(v.streams[0].destroyed, 'the peer-opened stream is gone too');
  t.ok(v.received.filter((f) => f.type === F.PING).length >= 1, 'pings were sent');
});

t.test('a peer that answers pings stays alive past the timeout', async (t) => {
  // A timeout far above any scheduling delay of a busy test machine (a 60 ms one was: a stalled
  // event loop read the PONG only after the timer had fired), with pings every 10 ms.
  const v = await victim(t, { keepaliveIntervalMs: 10, keepaliveTimeoutMs: 500 });
  // The session's own keepalive paces the test: one PING per 10 ms interval at most, so 160 of
  // them span more than three 500 ms timeouts. A session that timed out sends no more: the race
  // with its close then ends the wait, and the assertion below fails instead of hanging.
  let pings = 0;
  const enoughPings = new Promise<void>((resolve) => {
    v.pair.b.onMessage = (m) => {
      const fs = oracleDecode(m);
      if (fs === 'truncated') return;
      for (const f of fs) {
        if (f.type !== F.PING) continue;
        v.send(frame(F.PONG, 0, f.payload));
        if (++pings === 160) resolve();
      }
    };
  });
  await Promise.race([enoughPings, v.closed]);
  t.notOk(v.session.isClosed, 'alive after several timeout periods');
  t.ok((await v.session.ping()) >= 0, 'and still answering');
});
