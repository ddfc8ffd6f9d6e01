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
