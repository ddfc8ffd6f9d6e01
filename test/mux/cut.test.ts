// A connection that breaks without the authenticated close: every stream errors, none ends
// cleanly, so a truncated transfer never looks complete.
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import type { MuxError, Stream } from '../../src/mux/index.js';
import { drain, pump, sessionPair, type Received } from './util.js';

async function transferThenCut(t: Test, cut: (sp: Awaited<ReturnType<typeof sessionPair>>) => void) {
  const sp = await sessionPair();
  t.teardown(() => sp.close());
  const big = randomBytes(8 * 1024 * 1024); // far more than can cross before the cut
  // The writers never finish: the cut stops them midway, so what their pumps promise never comes
  // (they are not awaited; the streams' ends are).
  const serverSides: Promise<Received>[] = [];
  const accepted: Stream[] = [];
  sp.server.onStream = (s) => {
    accepted.push(s);
    serverSides.push(drain(s));
    void pump(s, big);
  };
  const clientSides: Promise<Received>[] = [];
  for (let i = 0; i < 20; i++) {
    const c = sp.client.openStream({ tunnelId: `cut-${i}` });
    clientSides.push(drain(c));
    void pump(c, big);
  }
  // Cut once every stream has moved data both ways.
  while (accepted.length < 20 || accepted.some((s) => s.bytesRead === 0)) await sp.client.ping();
  cut(sp);
  const results = await Promise.all([...clientSides, ...serverSides]);
  for (const r of results) {
    t.notOk(r.ended, 'no stream sees a clean end');
    if ((r.error as MuxError | undefined)?.code !== 'CONNECTION_LOST') t.fail(`stream error ${r.error?.message}`);
  }
  t.equal(results.length, 40);
  t.equal((await sp.clientClosed)?.code, 'CONNECTION_LOST');
  t.equal((await sp.serverClosed)?.code, 'CONNECTION_LOST');
  t.equal(sp.client.streamCount + sp.server.streamCount, 0);
}

t.test('TCP reset mid-transfer: every stream on both sides errors', (t) =>
  transferThenCut(t, (sp) => sp.pair.sockets.a.resetAndDestroy()),
);

t.test('TCP FIN mid-transfer (no CLOSE frame): still an error, not an end', (t) =>
  transferThenCut(t, (sp) => {
    // A middlebox or a dying peer ends the TCP stream in both directions without CLOSE.
    sp.pair.sockets.a.end();
    sp.pair.sockets.b.end();
  }),
);
