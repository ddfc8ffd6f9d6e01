import t from 'tap';
import { sessionPair, drain } from './util.js';
import { sha256 } from '../helpers/net.js';
import { MuxError } from '../../src/mux/index.js';

t.test('a write after end() is dropped, not thrown', async (t) => {
  const sp = await sessionPair();
  t.teardown(() => sp.close());
  const got = new Promise<string>((resolve) => { sp.server.onStream = (s) => { void drain(s, () => s.end()).then((r) => resolve(r.hash)); }; });
  const s = sp.client.openStream({ tunnelId: 'x' });
  s.write(Buffer.from('once'));
  s.end();
  t.equal(s.write(Buffer.from('twice')), false);
  t.equal(await got, sha256(Buffer.from('once')));
});

t.test('an onStream handler that throws costs its stream only', async (t) => {
  const sp = await sessionPair();
  t.teardown(() => sp.close());
  let n = 0;
  sp.server.onStream = (s) => {
    if (++n === 1) throw new Error('handler bug');
    s.onData = (d) => s.write(d);
    s.onEnd = () => s.end();
  };
  const bad = sp.client.openStream({ tunnelId: 'a' });
  const badClosed = new Promise<Error | undefined>((r) => { bad.onClose = r; });
  bad.onData = () => {};
  t.type(await badClosed, MuxError, 'the stream whose handler threw is reset');
  const good = sp.client.openStream({ tunnelId: 'b' });
  const echoed = drain(good);
  good.write(Buffer.from('still here'));
  good.end();
  t.equal((await echoed).hash, sha256(Buffer.from('still here')), 'the session goes on');
});

t.test('close() to a peer that never answers CLOSE ends at the keepalive deadline', async (t) => {
  // The server keeps pinging (so the client's keepalive sees a live peer) and is patient itself.
  const sp = await sessionPair({ keepaliveIntervalMs: 50, keepaliveTimeoutMs: 300 }, { keepaliveIntervalMs: 50, keepaliveTimeoutMs: 60_000 });
  t.teardown(() => sp.close());
  // The server's channel stops reading: it never sees CLOSE, never answers it, yet its socket stays open.
  sp.pair.b.pause();
  sp.client.close();
  const err = await sp.clientClosed;
  t.equal(err?.code, 'KEEPALIVE_TIMEOUT', err?.message ?? 'the session ended');
});
