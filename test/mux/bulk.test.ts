import t from 'tap';
import { randomBytes } from 'node:crypto';
import type { Stream } from '../../src/mux/index.js';
import { drain, pump, sessionPair } from './util.js';
import { sha256 } from '../helpers/net.js';

const STREAMS = 200;
const SIZE = 2 * 1024 * 1024;

t.test(`${STREAMS} concurrent streams, ${SIZE >> 20} MB each way, verified by hash`, async (t) => {
  const sp = await sessionPair();
  t.teardown(() => sp.close());
  // One random pool; stream i sends the slice at offset 4099*i (client) or 7919*i (server).
  const pool = randomBytes(SIZE + 8 * 1024 * 1024);
  const slice = (i: number, k: number) => pool.subarray((i * k) % (pool.length - SIZE), ((i * k) % (pool.length - SIZE)) + SIZE);
  const up = (i: number) => slice(i, 4099 * 7);
  const down = (i: number) => slice(i, 7919 * 3);

  const serverResults: Array<Promise<{ i: number; hash: string; ended: boolean; error?: Error }>> = [];
  const pumps: Array<Promise<void>> = [];
  sp.server.onStream = (s: Stream) => {
    const i = Number(s.meta.tunnelId.slice(5));
    serverResults.push(drain(s).then((r) => ({ i, ...r })));
    pumps.push(pump(s, down(i), 16 * 1024 + 7)); // odd chunk size: frames do not line up with writes
  };
  const clientResults: Array<Promise<{ hash: string; ended: boolean; error?: Error }>> = [];
  for (let i = 0; i < STREAMS; i++) {
    const c = sp.client.openStream({ tunnelId: `bulk-${i}`, clientAddress: '127.0.0.1', clientPort: 40000 + i });
    clientResults.push(drain(c));
    pumps.push(pump(c, up(i), 64 * 1024));
  }
  const client = await Promise.all(clientResults);
  let ok = 0;
  for (let i = 0; i < STREAMS; i++) {
    if (client[i].hash === sha256(down(i)) && client[i].ended && !client[i].error) ok++;
  }
  t.equal(ok, STREAMS, 'every client stream got its exact bytes and a clean end');
  const server = await Promise.all(serverResults);
  await Promise.all(pumps); // every writer wrote all it had and ended
  t.equal(server.length, STREAMS);
  t.equal(server.filter((r) => r.hash === sha256(up(r.i)) && r.ended && !r.error).length, STREAMS, 'every server stream too');
  t.equal(sp.client.streamCount, 0);
  t.equal(sp.server.streamCount, 0);
});
