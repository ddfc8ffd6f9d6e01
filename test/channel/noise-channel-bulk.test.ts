// 100 MB each way, both directions at once, over a real loopback socket pair, with a rekey in
// the middle of each direction; integrity checked by SHA-256 of everything sent and received.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { generateKeyPair } from '../../src/crypto/index.js';
import { connectChannel, type NoiseChannel } from '../../src/channel/index.js';
import { relayUnderTest } from '../helpers/noise.js';
import { dial } from '../helpers/net.js';
import { createReusedBufferSocket } from '../../src/net/reused-read-buffer.js';

const MSG = 65519;
const COUNT = Math.ceil((100 * 2 ** 20) / MSG); // 1601 messages ≈ 100 MiB
const pool = randomBytes(1 << 20);
const message = (i: number) => pool.subarray((i * 7919) % (pool.length - MSG), ((i * 7919) % (pool.length - MSG)) + MSG);

function expectedDigest(): string {
  const h = createHash('sha256');
  for (let i = 0; i < COUNT; i++) h.update(message(i));
  return h.digest('hex');
}

function reusedDial(t: { teardown(fn: () => void): void }, port: number): Socket {
  const s = createReusedBufferSocket(100 * 1024);
  s.connect(port, '127.0.0.1');
  s.on('error', () => {});
  t.teardown(() => { s.destroy(); });
  return s;
}

/** Sends COUNT messages as fast as backpressure allows. */
function pump(ch: NoiseChannel): void {
  let i = 0;
  const go = (): void => {
    while (i < COUNT) if (!ch.send(message(i++))) { ch.onDrain = go; return; }
  };
  go();
}

/** Resolves with the digest once COUNT messages have arrived. */
function receive(ch: NoiseChannel): Promise<{ digest: string; bytes: number }> {
  const h = createHash('sha256');
  let n = 0; let bytes = 0;
  return new Promise((resolve, reject) => {
    ch.onMessage = (m) => { h.update(m); bytes += m.length; if (++n === COUNT) resolve({ digest: h.digest('hex'), bytes }); };
    ch.onClose = (err) => reject(err ?? new Error('closed early'));
  });
}

for (const reads of ['ordinary', 'reused-buffer'] as const) t.test(`100 MB each way, concurrently, rekeyed midway, intact (${reads} reads at the agent)`, async (t) => {
  const opts = { rekeyAfterMessages: 1000 };
  const relay = await relayUnderTest(t, opts);
  // The agent reads into one 100 KiB buffer (as src/agent does): messages span its reads.
  const socket = reads === 'ordinary' ? dial(t, relay.port) : reusedDial(t, relay.port);
  const [agent, server] = await Promise.all([
    connectChannel(socket, { staticKey: generateKeyPair(), remoteStaticKey: relay.key.publicKey, ...opts }),
    relay.nextAccept(),
  ]);
  const expected = expectedDigest();
  const atServer = receive(server); const atAgent = receive(agent);
  pump(agent); pump(server);
  const [up, down] = await Promise.all([atServer, atAgent]);
  t.equal(up.bytes, COUNT * MSG, `${up.bytes} bytes agent→relay`);
  t.equal(up.digest, expected, 'agent→relay digest matches');
  t.equal(down.digest, expected, 'relay→agent digest matches');
  t.equal(agent.rekeysSent, 1, 'the agent rekeyed once (after 1000 messages)');
  t.equal(server.rekeysReceived, 1, 'the relay followed');
  t.equal(server.rekeysSent, 1); t.equal(agent.rekeysReceived, 1);
  agent.onClose = () => {}; server.onClose = () => {};
  agent.destroy(); server.destroy();
});
