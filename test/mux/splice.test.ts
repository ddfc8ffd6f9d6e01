// splice over real sockets: customer → public listener ⇄ stream ⇄ agent → TCP target.
import t, { type Test } from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { ResetCode, splice, type Stream } from '../../src/mux/index.js';
import { sessionPair } from './util.js';
import { dial, freePort, listen, sha256 } from '../helpers/net.js';

/** A loopback listener (half-open allowed, no Nagle) whose sockets go to `onConn`; torn down with `t`. */
const serve = (t: Test, onConn: (s: net.Socket) => void): Promise<number> =>
  listen(net.createServer({ allowHalfOpen: true, noDelay: true }, onConn), t);

/** A relay-like public listener and an agent-like dialer around one session pair. */
async function tunnel(t: Test, targetPort: number) {
  const sp = await sessionPair();
  t.teardown(() => sp.close());
  const relaySockets: net.Socket[] = [];
  let firstAgentStream!: (s: Stream) => void;
  const agentStream = new Promise<Stream>((r) => { firstAgentStream = r; });
  const done: Array<Promise<Error | undefined>> = [];
  // Resolves once the relay's and the agent's splice have both started (one connection through).
  let bothSpliced!: () => void;
  const spliced = new Promise<void>((r) => { bothSpliced = r; });
  const started = (p: Promise<Error | undefined>): void => {
    done.push(p);
    if (done.length === 2) bothSpliced();
  };
  sp.server.onStream = (stream) => {
    firstAgentStream(stream);
    stream.pause(); // hold data until the target is dialled
    const target = net.connect({ port: targetPort, host: '127.0.0.1', allowHalfOpen: true });
    let connected = false;
    target.once('connect', () => {
      connected = true;
      started(new Promise((r) => splice(target, stream, { onDone: r })));
    });
    target.once('error', () => {
      if (!connected) stream.reset(ResetCode.CONNECT_FAILED);
    });
  };
  const publicPort = await serve(t, (sock) => {
    relaySockets.push(sock);
    const stream = sp.client.openStream({ tunnelId: 'tcp', clientAddress: sock.remoteAddress, clientPort: sock.remotePort });
    started(new Promise((r) => splice(sock, stream, { onDone: r })));
  });
  return { sp, publicPort, relaySockets, agentStream, done, spliced };
}

/** A customer of the public listener; teardown resets the tunnel under it. */
const customer = (t: Test, port: number): net.Socket => dial(t, port, { allowHalfOpen: true, noDelay: true });

function readAll(sock: net.Socket): Promise<{ hash: string; bytes: number; error?: Error }> {
  const h = createHash('sha256');
  let bytes = 0;
  let error: Error | undefined;
  let ended = false;
  sock.on('data', (c: Buffer) => (h.update(c), (bytes += c.length)));
  sock.on('end', () => (ended = true));
  sock.on('error', (e) => (error = e));
  return new Promise((r) => sock.on('close', () => r({ hash: h.digest('hex'), bytes, error: error ?? (ended ? undefined : new Error('no end')) })));
}

t.test('echo through splice: exact bytes both ways, clean close on all four sockets', async (t) => {
  const targetPort = await serve(t, (s) => s.pipe(s));
  const tu = await tunnel(t, targetPort);
  const body = randomBytes(6 * 1024 * 1024 + 3);
  const c = customer(t, tu.publicPort);
  const got = readAll(c);
  c.end(body);
  const r = await got;
  t.equal(r.error, undefined);
  t.equal(r.hash, sha256(body));
  await tu.spliced;
  t.same(await Promise.all(tu.done), [undefined, undefined], 'both splices finished without error');
  t.equal(tu.sp.client.streamCount + tu.sp.server.streamCount, 0);
});

t.test('half-close through splice: the reply comes after the request ends', async (t) => {
  const targetPort = await serve(t, (s) => {
    const h = createHash('sha256');
    s.on('data', (c) => h.update(c));
    s.on('end', () => s.end(`sha256=${h.digest('hex')}`)); // reply only after the client's FIN
  });
  const tu = await tunnel(t, targetPort);
  const request = randomBytes(900_000);
  const c = customer(t, tu.publicPort);
  let reply = '';
  c.on('data', (d: Buffer) => (reply += d.toString()));
  c.end(request);
  await once(c, 'end');
  t.equal(reply, `sha256=${sha256(request)}`);
});

t.test("a target that stops reading pushes back to the customer's TCP sender", async (t) => {
  let targetSock: net.Socket | undefined;
  const targetPort = await serve(t, (s) => {
    targetSock = s;
    s.pause(); // never reads
  });
  const tu = await tunnel(t, targetPort);
  const c = customer(t, tu.publicPort);
  const chunk = randomBytes(1024 * 1024);
  const sent = createHash('sha256');
  let written = 0;
  let stopped = false;
  const write = (): void => {
    while (!stopped && written < 512 * 1024 * 1024) {
      written += chunk.length;
      sent.update(chunk);
      if (!c.write(chunk)) return;
    }
  };
  c.on('drain', write);
  write();
  // Steady state: the target's kernel buffers are full, the agent holds a full window, the
  // relay's credit is spent and its socket paused, the customer's writes back up.
  // (white box: _credit is the credit the relay has left on this stream). Each round trip (a PING
  // and its PONG) is an event after which the data sent before it has arrived; once the credit is
  // spent nothing resumes the relay's socket, so the pause it comes to is the one that lasts.
  const agentStream = await tu.agentStream;
  while (agentStream._credit > 0) await tu.sp.client.ping();
  if (!tu.relaySockets[0].isPaused()) await once(tu.relaySockets[0], 'pause');
  const window = agentStream.receiveWindow;
  t.ok(window <= tu.sp.server.config.maxStreamWindow, `window ${window} within maxStreamWindow`);
  const relayRead = tu.relaySockets[0].bytesRead;
  await tu.sp.client.ping();
  await tu.sp.server.ping();
  t.ok(tu.relaySockets[0].isPaused(), 'the relay stopped reading the customer');
  // A paused net.Socket still fills its Readable buffer, up to readableHighWaterMark, from the kernel.
  const more = tu.relaySockets[0].bytesRead - relayRead;
  t.ok(more <= tu.relaySockets[0].readableHighWaterMark, `and reads at most one more buffer (${more} bytes)`);
  t.ok(c.writableLength > 0, 'the customer has unsent data: its TCP sender is held back');
  t.ok(relayRead < 64 * 1024 * 1024, `the relay took ${(relayRead / 1048576).toFixed(1)} MiB of the ${(written / 1048576).toFixed(0)} MiB written`);
  t.ok(agentStream.readableLength <= window, `the agent holds ${agentStream.readableLength} bytes, at most its window`);
  // Now the target reads: everything the customer wrote arrives, in order, then its FIN.
  stopped = true;
  c.end();
  const got = createHash('sha256');
  let received = 0;
  targetSock!.on('data', (d: Buffer) => {
    received += d.length;
    got.update(d);
  });
  const ended = once(targetSock!, 'end');
  targetSock!.resume();
  await ended;
  t.equal(received, written, 'flow resumes when the target reads: every byte held back arrives');
  t.equal(got.digest('hex'), sent.digest('hex'), 'in order and intact');
});

t.test('a target that cannot be reached resets the customer connection', async (t) => {
  const deadPort = await freePort(); // nothing listens there
  const tu2 = await tunnel(t, deadPort);
  const c = customer(t, tu2.publicPort);
  const r = readAll(c);
  c.write('hello');
  const res = await r;
  t.ok(res.error, `the customer sees an error (${res.error?.message}), not a clean end`);
});

t.test('splice insists on allowHalfOpen', async (t) => {
  const sp = await sessionPair();
  t.teardown(() => sp.close());
  const s = new net.Socket({ allowHalfOpen: false });
  t.throws(() => splice(s, sp.client.openStream({ tunnelId: 'x' })), TypeError);
});

// ---- the throttle option (a tunnel's bandwidth cap): pause reading, never drop, never hold twice ----

/** The throttle's wait, caught instead of armed: the test decides when it fires. */
interface HeldTimer { ms: number; fire(): void; cleared: boolean }

/**
 * Catches the next setTimeout, the one splice arms right after a `spend()` that asked for a wait
 * (nothing else runs between the two), and watches clearTimeout for its handle. The handle is a
 * real timer that never fires on its own, so that clearing it is what Node would see.
 */
function holdNextTimer(t: Test): Promise<HeldTimer> {
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  return new Promise((resolve) => {
    globalThis.setTimeout = ((fn: () => void, ms?: number) => {
      globalThis.setTimeout = realSet;
      const handle = realSet(() => {}, 0x7fffffff);
      handle.unref();
      const held: HeldTimer = { ms: ms ?? 0, cleared: false, fire: () => { realClear(handle); fn(); } };
      globalThis.clearTimeout = (h?: Parameters<typeof clearTimeout>[0]) => {
        if (h === handle) held.cleared = true;
        realClear(h);
      };
      t.teardown(() => { globalThis.clearTimeout = realClear; realClear(handle); });
      resolve(held);
      return handle;
    }) as unknown as typeof setTimeout;
  });
}

/**
 * A Throttle that asks for one wait, on the first chunk `when` picks (by default the first with
 * bytes: splice asks with 0 at the start whether the budget is in debt); it records every spend.
 */
function waitOnce(t: Test, when: (n: number) => boolean = (n) => n > 0, ms = 5_000) {
  const spent: number[] = [];
  let armed = true;
  let engaged!: (h: Promise<HeldTimer>) => void;
  const held = new Promise<Promise<HeldTimer>>((r) => { engaged = r; }).then((p) => p);
  const throttle = {
    spend(n: number): number {
      spent.push(n);
      if (!armed || !when(n)) return 0;
      armed = false;
      engaged(holdNextTimer(t));
      return ms;
    },
    get engaged() { return !armed; },
  };
  return { throttle, spent, held };
}

/** One accepted loopback socket spliced onto a client stream; `peer` is the socket's other end, `remote` the stream's. */
async function splicePair(t: Test, throttle: { in?: { spend(n: number): number }; out?: { spend(n: number): number } }) {
  const sp = await sessionPair();
  t.teardown(() => sp.close());
  let accepted!: (s: net.Socket) => void;
  const acceptedSock = new Promise<net.Socket>((r) => { accepted = r; });
  const port = await serve(t, (s) => accepted(s));
  const peer = customer(t, port);
  const sock = await acceptedSock;
  const remoteStream = new Promise<Stream>((r) => { sp.server.onStream = r; });
  const stream = sp.client.openStream({ tunnelId: 'throttled' });
  let onDone!: (err?: Error) => void;
  const done = new Promise<Error | undefined>((r) => { onDone = r; });
  splice(sock, stream, { throttle, onDone });
  return { sp, sock, peer, stream, remote: await remoteStream, done };
}

/** Hashes what a stream delivers; answers its FIN with ours, so the stream can close. */
function readStream(s: Stream) {
  const h = createHash('sha256');
  const r = { bytes: 0, hash: '', ended: new Promise<void>((res) => {
    s.onEnd = () => { r.hash = h.digest('hex'); s.end(); res(); };
  }) };
  s.onData = (c) => { h.update(c); r.bytes += c.length; };
  s.resume();
  return r;
}

/** Hashes what a socket receives, from now on. */
function readSocket(s: net.Socket) {
  const h = createHash('sha256');
  const r = { bytes: 0, hash: '', ended: new Promise<void>((res) => s.once('end', () => { r.hash = h.digest('hex'); res(); })) };
  s.on('data', (c: Buffer) => { h.update(c); r.bytes += c.length; });
  return r;
}

/** A few round trips each way on the session: what was sent before them has arrived and been handled. */
async function settle(sp: { client: { ping(): Promise<number> }; server: { ping(): Promise<number> } }): Promise<void> {
  for (let i = 0; i < 3; i++) { await sp.client.ping(); await sp.server.ping(); await new Promise(setImmediate); }
}

/** Resolves once `cond` holds, checking after each turn of the event loop; gives up (the assertions after it then fail) after many. */
async function until(cond: () => boolean, turns = 20_000): Promise<void> {
  for (let i = 0; i < turns && !cond(); i++) await new Promise(setImmediate);
}

/** Session round trips until `cond` holds, at most `n` of them. */
async function pingUntil(sp: { server: { ping(): Promise<number> } }, cond: () => boolean, n = 200): Promise<void> {
  for (let i = 0; i < n && !cond(); i++) await sp.server.ping();
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

t.test('throttle in: the socket pauses after the chunk that ran into debt, and resumes on the timer with every byte in order', { timeout: 60_000 }, async (t) => {
  const th = waitOnce(t);
  const x = await splicePair(t, { in: th.throttle });
  const got = readStream(x.remote);
  const first = randomBytes(1000);
  x.peer.write(first);
  const timer = await th.held;
  t.equal(timer.ms, 5_000, 'the wait the throttle asked for');
  t.ok(x.sock.isPaused(), 'reading stopped after that chunk');
  const rest = randomBytes(3 * 1024 * 1024);
  x.peer.write(rest);
  // The relay's socket has the next bytes (a paused socket still fills its buffer from the kernel)…
  await until(() => x.sock.bytesRead > first.length);
  await settle(x.sp);
  // …and none of them went into the stream.
  t.equal(x.stream.bytesWritten, first.length, 'nothing more was read into the stream');
  t.equal(got.bytes, first.length, 'the far end has the first chunk only');
  t.ok(x.sock.isPaused(), 'still paused');
  timer.fire();
  x.peer.end();
  await got.ended;
  t.equal(got.bytes, first.length + rest.length, 'every byte after the timer');
  t.equal(got.hash, sha256(Buffer.concat([first, rest])), 'intact and in order');
  t.equal(sum(th.spent), first.length + rest.length, 'every byte was spent from the budget once');
  t.equal(await x.done, undefined, 'the splice finished cleanly');
});

t.test('throttle out: the stream pauses after the chunk that ran into debt, and resumes on the timer with every byte in order', { timeout: 60_000 }, async (t) => {
  const th = waitOnce(t);
  const x = await splicePair(t, { out: th.throttle });
  const got = readSocket(x.peer);
  const first = randomBytes(1000);
  x.remote.write(first);
  const timer = await th.held;
  t.ok(timer.ms > 0);
  const rest = randomBytes(3 * 1024 * 1024);
  let off = 0;
  const pumpRest = (): void => {
    while (off < rest.length) {
      const c = rest.subarray(off, off + 64 * 1024);
      off += c.length;
      if (!x.remote.write(c)) return;
    }
    x.remote.end();
  };
  x.remote.onDrain = pumpRest;
  pumpRest();
  // The relay's stream has the next bytes buffered (within its window)…
  await pingUntil(x.sp, () => x.stream.readableLength > 0);
  await settle(x.sp);
  // …and none went to the socket.
  t.equal(x.sock.bytesWritten, first.length, 'nothing more was written to the socket');
  t.ok(x.stream.readableLength > 0 && x.stream.readableLength <= x.stream.receiveWindow, `held in the stream's window (${x.stream.readableLength} bytes)`);
  await until(() => got.bytes >= first.length);
  t.equal(got.bytes, first.length, 'the peer has the first chunk only');
  timer.fire();
  await got.ended;
  t.equal(got.bytes, first.length + rest.length, 'every byte after the timer');
  t.equal(got.hash, sha256(Buffer.concat([first, rest])), 'intact and in order');
  t.equal(sum(th.spent), first.length + rest.length, 'every byte was spent from the budget once');
  x.peer.end();
  t.equal(await x.done, undefined, 'the splice finished cleanly');
});

/**
 * The customer writes until the throttle has asked for its wait, on the very chunk whose write
 * into the stream filled it (the stream's far end is not reading): the socket is then held for
 * both reasons at once. Returns everything written.
 */
async function bothReasonsIn(t: Test) {
  const box: { x?: Awaited<ReturnType<typeof splicePair>> } = {};
  // Splice pauses the socket for backpressure before it asks the throttle: paused here means the
  // stream refused more. The stream drains at half its high-water mark; once more than the far
  // end's window and that half are written, what credit is left cannot get it there, and only
  // the far end's reading can drain it.
  const stuck = (): boolean => box.x !== undefined && box.x.sock.isPaused() &&
    box.x.stream.bytesWritten > box.x.remote.receiveWindow + box.x.sp.client.config.streamWriteHighWaterMark / 2;
  const th = waitOnce(t, stuck);
  const x = box.x = await splicePair(t, { in: th.throttle });
  const sent = createHash('sha256');
  let written = 0;
  const chunk = randomBytes(64 * 1024);
  const write = (): void => {
    while (!th.throttle.engaged) {
      sent.update(chunk);
      written += chunk.length;
      if (!x.peer.write(chunk)) return;
    }
  };
  x.peer.on('drain', write);
  write();
  const timer = await th.held;
  x.peer.off('drain', write);
  t.ok(x.sock.isPaused(), 'held: the stream is full and the throttle asked for a wait');
  let drains = 0;
  const spliceDrain = x.stream.onDrain;
  x.stream.onDrain = () => { drains++; spliceDrain(); };
  return { x, th, timer, sent, written: () => written, drains: () => drains };
}

t.test('throttle in: a drain while the throttle still holds does not resume the socket', { timeout: 60_000 }, async (t) => {
  const { x, th, timer, sent, written, drains } = await bothReasonsIn(t);
  const got = readStream(x.remote); // the far end reads: credit flows back, the stream drains
  await pingUntil(x.sp, () => drains() > 0);
  t.ok(drains() > 0, 'the stream drained');
  const before = x.stream.bytesWritten;
  await settle(x.sp);
  t.ok(x.sock.isPaused(), 'the drain did not resume it: the throttle still holds');
  t.equal(x.stream.bytesWritten, before, 'nothing more was read from the socket');
  t.equal(got.bytes, before, 'the far end has all that was read, and only that');
  timer.fire();
  x.peer.end();
  await got.ended;
  t.equal(got.bytes, written(), 'every byte after the timer');
  t.equal(got.hash, sent.digest('hex'), 'intact and in order');
  t.equal(sum(th.spent), written());
});

t.test('throttle in: the timer firing while the stream is still full does not resume the socket', { timeout: 60_000 }, async (t) => {
  const { x, timer, sent, written, drains } = await bothReasonsIn(t);
  const before = x.stream.bytesWritten;
  timer.fire();
  await settle(x.sp);
  t.equal(drains(), 0, 'the far end has not read: no drain yet');
  t.ok(x.sock.isPaused(), 'the timer did not resume it: the stream is still full');
  t.equal(x.stream.bytesWritten, before, 'nothing more was read from the socket');
  const got = readStream(x.remote);
  x.peer.end();
  await got.ended;
  t.ok(drains() > 0, 'the drain resumed it');
  t.equal(got.bytes, written(), 'every byte');
  t.equal(got.hash, sent.digest('hex'), 'intact and in order');
});

t.test('throttle out: a socket drain while the throttle still holds does not resume the stream', { timeout: 60_000 }, async (t) => {
  const box: { sock?: net.Socket } = {};
  // Splice pauses the stream for a full socket before it asks the throttle: writableNeedDrain means full.
  const th = waitOnce(t, () => box.sock?.writableNeedDrain === true);
  const x = await splicePair(t, { out: th.throttle });
  box.sock = x.sock;
  // The peer does not read yet: the socket's buffers fill.
  const sent = createHash('sha256');
  let written = 0;
  let ended = false;
  const chunk = randomBytes(64 * 1024);
  const write = (): void => {
    while (!th.throttle.engaged) {
      sent.update(chunk);
      written += chunk.length;
      if (!x.remote.write(chunk)) return;
    }
    if (!ended) { ended = true; x.remote.end(); }
  };
  x.remote.onDrain = write;
  write();
  const timer = await th.held;
  const before = x.sock.bytesWritten;
  const drained = once(x.sock, 'drain');
  const got = readSocket(x.peer); // the peer reads now: the socket drains
  await drained;
  await settle(x.sp);
  t.equal(x.sock.bytesWritten, before, 'the drain did not resume the stream: the throttle still holds');
  t.ok(x.stream.readableLength > 0, 'what arrived waits in the stream');
  timer.fire();
  await got.ended;
  t.equal(got.bytes, written, 'every byte after the timer');
  t.equal(got.hash, sent.digest('hex'), 'intact and in order');
  x.peer.end();
  t.equal(await x.done, undefined);
});

t.test('throttle: a connection that closes during a wait clears its timer', { timeout: 60_000 }, async (t) => {
  const a = waitOnce(t);
  const x = await splicePair(t, { in: a.throttle });
  readStream(x.remote);
  x.peer.write('hello');
  const timerA = await a.held;
  x.peer.resetAndDestroy(); // the customer goes away mid-wait
  t.type(await x.done, 'object', 'the splice ends with an error: the connection did not finish');
  t.ok(timerA.cleared, 'the socket side cleared its wait');

  const b = waitOnce(t);
  const y = await splicePair(t, { out: b.throttle });
  readSocket(y.peer);
  y.remote.write(Buffer.from('hello'));
  const timerB = await b.held;
  y.remote.reset(ResetCode.CANCEL); // the agent's side goes away mid-wait
  t.type(await y.done, 'object');
  t.ok(timerB.cleared, 'the stream side cleared its wait');
});

t.test('throttle: a connection spliced while its tunnel\'s budget is in debt starts paused, and waits are capped', { timeout: 60_000 }, async (t) => {
  // The budget is in debt before this connection's first byte (others overdrew it): splice's
  // opening spend(0) asks for a long wait, which is capped, and nothing is read until it ends.
  const th = waitOnce(t, (n) => n === 0, 3_600_000);
  const x = await splicePair(t, { in: th.throttle });
  const got = readStream(x.remote);
  const timer = await th.held;
  t.equal(timer.ms, 10_000, 'an hour of debt is paid off in waits of at most 10 s');
  const first = randomBytes(4096);
  x.peer.write(first);
  await until(() => x.sock.bytesRead >= first.length || x.sock.readableLength >= first.length);
  await settle(x.sp);
  t.equal(x.stream.bytesWritten, 0, 'not a byte went into the stream while in debt');
  timer.fire();
  x.peer.end();
  await got.ended;
  t.equal(got.hash, sha256(first), 'then everything, intact');
});
