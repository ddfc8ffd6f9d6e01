import t from 'tap';
import { randomBytes } from 'node:crypto';
import { ResetCode, type MuxError, type Stream } from '../../src/mux/index.js';
import { drain, pump, sessionPair } from './util.js';
import { sha256 } from '../helpers/net.js';

t.test('open carries metadata and first data; echo both ways', async (t) => {
  const sp = await sessionPair();
  t.teardown(() => sp.close());
  const first = Buffer.from('ClientHello bytes');
  let serverSide: Stream | undefined;
  sp.server.onStream = (s) => {
    serverSide = s;
    s.onData = (c) => s.write(Buffer.from(c));
    s.onEnd = () => s.end();
  };
  const body = randomBytes(3 * 1024 * 1024 + 17);
  const s = sp.client.openStream({ tunnelId: 'tun-1', clientAddress: '203.0.113.9', clientPort: 50123, serverName: 'app.example.com' }, first);
  t.equal(s.id % 2, 1, 'client ids are odd');
  const got = drain(s);
  await pump(s, body);
  const r = await got;
  t.equal(r.error, undefined);
  t.ok(r.ended);
  t.equal(r.hash, sha256(Buffer.concat([first, body])));
  t.same(serverSide!.meta, { tunnelId: 'tun-1', clientAddress: '203.0.113.9', clientPort: 50123, serverName: 'app.example.com' });
  t.equal(serverSide!.bytesRead, first.length + body.length);
  t.equal(s.bytesWritten, first.length + body.length);
  t.equal(sp.client.streamCount, 0, 'freed on the client');
  t.equal(sp.server.streamCount, 0, 'freed on the server');
});

t.test('server-opened streams use even ids and work the same', async (t) => {
  const sp = await sessionPair();
  t.teardown(() => sp.close());
  const body = randomBytes(500_000);
  const received = new Promise<string>((resolve, reject) => {
    sp.client.onStream = (s) => {
      t.same(s.meta, { tunnelId: 'back' });
      drain(s, () => s.end()).then((r) => resolve(r.hash), reject);
    };
  });
  const s = sp.server.openStream({ tunnelId: 'back' });
  t.equal(s.id % 2, 0);
  const closed = drain(s);
  await pump(s, body);
  t.equal(await received, sha256(body));
  t.equal((await closed).error, undefined);
});

t.test('half-close: the reply follows the request end, both sides get exact bytes', async (t) => {
  const sp = await sessionPair();
  t.teardown(() => sp.close());
  const request = randomBytes(700_000);
  const reply = randomBytes(1_300_000);
  let replied: Promise<void> | undefined;
  const serverDone = new Promise<{ hash: string; ended: boolean; error?: Error }>((resolve, reject) => {
    sp.server.onStream = (s) => {
      drain(s, () => {
        // The client finished writing; we can still answer.
        replied = pump(s, reply);
      }).then(resolve, reject);
    };
  });
  const c = sp.client.openStream({ tunnelId: 'hc' });
  const clientDone = drain(c);
  await pump(c, request);
  const [sr, cr] = await Promise.all([serverDone, clientDone]);
  await replied;
  t.equal(sr.hash, sha256(request));
  t.ok(sr.ended);
  t.equal(sr.error, undefined);
  t.equal(cr.hash, sha256(reply));
  t.ok(cr.ended);
  t.equal(cr.error, undefined);
});

t.test('reset reaches the peer with its code; the stream is freed', async (t) => {
  const sp = await sessionPair();
  t.teardown(() => sp.close());
  const got = new Promise<Error | undefined>((resolve) => {
    sp.server.onStream = (s) => {
      s.onData = () => s.reset(ResetCode.CONNECT_FAILED);
      s.onClose = resolve;
    };
  });
  const c = sp.client.openStream({ tunnelId: 'r' }, Buffer.from('x'));
  const closed = new Promise<Error | undefined>((r) => (c.onClose = r));
  t.equal(await got, undefined, 'local reset closes without error');
  const err = (await closed) as MuxError;
  t.equal(err.code, 'STREAM_RESET');
  t.equal(err.resetCode, ResetCode.CONNECT_FAILED);
  t.equal(sp.client.streamCount, 0);
  t.equal(c.write(Buffer.from('late')), false, 'writes after a reset are dropped');
});

t.test('ping measures a round trip', async (t) => {
  const sp = await sessionPair();
  t.teardown(() => sp.close());
  const rtt = await sp.client.ping();
  t.ok(rtt >= 0 && Number.isFinite(rtt));
  t.ok((await sp.server.ping()) >= 0);
});

t.test('go-away: no new streams, existing ones go on', async (t) => {
  const sp = await sessionPair();
  t.teardown(() => sp.close());
  let peerStreams = 0;
  sp.server.onStream = (s) => {
    peerStreams++;
    s.onData = (c) => s.write(Buffer.from(c));
    s.onEnd = () => s.end();
  };
  const existing = sp.client.openStream({ tunnelId: 'g' }, Buffer.from('before'));
  await sp.client.ping(); // the OPEN has arrived
  sp.server.goAway();
  await sp.server.ping(); // the GO_AWAY has arrived
  const refused = sp.client.openStream({ tunnelId: 'g' });
  const err = await new Promise<Error | undefined>((r) => (refused.onClose = r));
  t.equal((err as MuxError).code, 'GOING_AWAY');
  const r = drain(existing);
  await pump(existing, Buffer.from(' and after'));
  t.equal((await r).hash, sha256(Buffer.from('before and after')));
  t.equal(peerStreams, 1);
});

t.test('maxStreams: the peer refuses opens beyond its limit', async (t) => {
  const sp = await sessionPair({}, { maxStreams: 2 });
  t.teardown(() => sp.close());
  sp.server.onStream = () => {};
  const a = sp.client.openStream({ tunnelId: 'm' });
  const b = sp.client.openStream({ tunnelId: 'm' });
  const c = sp.client.openStream({ tunnelId: 'm' });
  const err = await new Promise<Error | undefined>((r) => (c.onClose = r));
  t.equal((err as MuxError).code, 'TOO_MANY_STREAMS');
  t.equal((err as MuxError).resetCode, ResetCode.REFUSED_TOO_MANY);
  t.equal(sp.server.streamCount, 2);
  t.notOk(a.destroyed || b.destroyed);
});

t.test('local maxStreams and oversize metadata fail at open', async (t) => {
  const sp = await sessionPair({ maxStreams: 1, maxOpenMetadata: 32 });
  t.teardown(() => sp.close());
  sp.server.onStream = () => {};
  sp.client.openStream({ tunnelId: 'one' });
  const second = sp.client.openStream({ tunnelId: 'two' });
  const err = await new Promise<Error | undefined>((r) => (second.onClose = r));
  t.equal((err as MuxError).code, 'TOO_MANY_STREAMS');
  t.throws(() => sp.client.openStream({ tunnelId: 'x', serverName: 'y'.repeat(40) }), { code: 'METADATA_TOO_LARGE' });
});

t.test('authenticated close ends both sessions cleanly; unfinished streams error', async (t) => {
  const sp = await sessionPair();
  t.teardown(() => sp.close());
  const serverStream = new Promise<Stream>((r) => (sp.server.onStream = r));
  const c = sp.client.openStream({ tunnelId: 'c' }, Buffer.from('hi'));
  const s = await serverStream;
  const serverErr = new Promise<Error | undefined>((r) => (s.onClose = r));
  s.resume();
  const clientErr = new Promise<Error | undefined>((r) => (c.onClose = r));
  sp.client.close();
  t.equal(((await clientErr) as MuxError).code, 'SESSION_CLOSED');
  t.equal(((await serverErr) as MuxError).code, 'SESSION_CLOSED');
  t.equal(await sp.clientClosed, undefined, 'client session closed cleanly');
  t.equal(await sp.serverClosed, undefined, 'server session closed cleanly');
  await t.rejects(sp.client.ping(), { code: 'SESSION_CLOSED' });
});

t.test('a paused stream buffers within its window and delivers on resume', async (t) => {
  const sp = await sessionPair();
  t.teardown(() => sp.close());
  const serverStream = new Promise<Stream>((r) => (sp.server.onStream = (s) => (s.pause(), r(s))));
  const body = randomBytes(1024 * 1024);
  const c = sp.client.openStream({ tunnelId: 'p' });
  const pumping = pump(c, body);
  const s = await serverStream;
  // The sender stops at the window: wait for the buffer to reach it.
  while (s.readableLength < sp.server.config.initialStreamWindow) await sp.client.ping();
  t.equal(s.readableLength, sp.server.config.initialStreamWindow, 'buffered exactly the window');
  const r = drain(s, () => s.end());
  await pumping;
  t.equal((await r).hash, sha256(body));
});
