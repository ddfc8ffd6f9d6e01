// The established channel over real loopback sockets: messages both ways, clean end, rekey on
// the wire, tampering, nonce exhaustion, backpressure, destroy.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { generateKeyPair, type NoiseError } from '../../src/crypto/index.js';
import { ChannelError, connectChannel } from '../../src/channel/index.js';
import { closed, collect, framesOf, mitm, relayUnderTest } from '../helpers/noise.js';
import { dial } from '../helpers/net.js';

const agentKey = generateKeyPair();

t.test('IK handshake over loopback, both ciphers; messages both ways; clean end', async (t) => {
  for (const cipher of ['chachapoly', 'aesgcm'] as const) {
    const relay = await relayUnderTest(t);
    const [agent, server] = await Promise.all([
      connectChannel(dial(t, relay.port), { staticKey: agentKey, remoteStaticKey: relay.key.publicKey, cipher }),
      relay.nextAccept(),
    ]);
    t.equal(agent.cipher, cipher); t.equal(server.cipher, cipher);
    t.same(server.remoteStaticKey, agentKey.publicKey, 'relay learns the agent key');
    t.same(agent.remoteStaticKey, relay.key.publicKey);
    t.same(agent.handshakeHash, server.handshakeHash, 'same handshake hash');
    t.same(relay.lines.map((l) => [l.event, l.cipher, l.agent]), [['noise.handshake_ok', cipher, agentKey.publicKey.toString('base64url')]], 'one debug line, with an event');
    t.equal(agent.maxMessageSize, 65519);
    const sizes = [1, 2, 100, 1500, 65519];
    const sent = sizes.map((n) => randomBytes(n));
    const atServer = collect(server, sizes.length); const atAgent = collect(agent, sizes.length);
    for (const m of sent) { agent.send(m); server.send(m); }
    t.same((await atServer).map((b) => b.toString('hex')), sent.map((b) => b.toString('hex')), `${cipher}: agent→relay intact`);
    t.same((await atAgent).map((b) => b.toString('hex')), sent.map((b) => b.toString('hex')), `${cipher}: relay→agent intact`);
    t.equal((() => { try { agent.send(Buffer.alloc(65520)); } catch (e) { return (e as NoiseError).code; } })(), 'MESSAGE_TOO_LARGE');
    t.equal((() => { try { agent.send(Buffer.alloc(0)); } catch (e) { return (e as NoiseError).code; } })(), 'BAD_MESSAGE');
    const [a, s] = [closed(agent), closed(server)];
    agent.end();
    t.equal(await s, undefined, 'relay side: clean close');
    t.equal(await a, undefined, 'agent side: clean close');
  }
});

t.test('rekey by message count and by time is signalled in-band; both sides stay in step', async (t) => {
  for (const opts of [{ rekeyAfterMessages: 3 }, { rekeyAfterMs: 0 }]) {
    const relay = await relayUnderTest(t, opts);
    const proxy = await mitm(t, relay.port);
    const [agent, server] = await Promise.all([
      connectChannel(dial(t, proxy.port), { staticKey: agentKey, remoteStaticKey: relay.key.publicKey, ...opts }),
      relay.nextAccept(),
    ]);
    const atServer = collect(server, 10); const atAgent = collect(agent, 10);
    for (let i = 0; i < 10; i++) { agent.send(Buffer.from(`up ${i}`)); server.send(Buffer.from(`down ${i}`)); }
    t.same((await atServer).map(String), [...Array(10).keys()].map((i) => `up ${i}`));
    t.same((await atAgent).map(String), [...Array(10).keys()].map((i) => `down ${i}`));
    // On the wire: after the handshake (msg1 and confirmation up, msg2 down), empty messages
    // (16 bytes: a tag alone) are the rekey markers.
    const up = framesOf(Buffer.concat(proxy.rec.up), 6).slice(2);
    const down = framesOf(Buffer.concat(proxy.rec.down), 6).slice(1);
    const expected = opts.rekeyAfterMessages ? 3 : 10; // before messages 4, 7, 10; or before each
    t.equal(up.filter((f) => f.length === 16).length, expected, `${JSON.stringify(opts)}: agent rekeyed ${expected} times`);
    t.equal(down.filter((f) => f.length === 16).length, expected, `${JSON.stringify(opts)}: relay rekeyed ${expected} times`);
    t.equal(up.length, 10 + expected);
    agent.destroy(); server.destroy();
  }
});

t.test('tampering with a transport message is detected and ends the channel', async (t) => {
  const relay = await relayUnderTest(t);
  // Flip one byte inside the first data message from the agent: after preamble (6), msg1
  // (2+108), confirmation (2+16) and the data message's length (2).
  const target = 6 + 2 + 108 + 2 + 16 + 2 + 5;
  const proxy = await mitm(t, relay.port, (dir, chunk, offset) => {
    if (dir === 'up' && offset <= target && target < offset + chunk.length) { const c = Buffer.from(chunk); c[target - offset] ^= 0x01; return c; }
    return chunk;
  });
  const [agent, server] = await Promise.all([
    connectChannel(dial(t, proxy.port), { staticKey: agentKey, remoteStaticKey: relay.key.publicKey }),
    relay.nextAccept(),
  ]);
  let delivered = 0;
  server.onMessage = () => { delivered++; };
  const serverClosed = closed(server); const agentClosed = closed(agent);
  agent.send(Buffer.from('pay the bearer 100 coins'));
  const err = await serverClosed;
  t.equal((err as NoiseError).code, 'DECRYPT_FAILED');
  t.equal(delivered, 0, 'nothing tampered was delivered');
  const agentErr = await agentClosed;
  t.not((agentErr as NoiseError | undefined)?.code, 'DECRYPT_FAILED', 'the agent read nothing tampered');
  t.equal(agent.send(Buffer.from('more')), false, 'the agent sees the channel end: it sends no more');
});

t.test('nonce exhaustion ends the session cleanly', async (t) => {
  const relay = await relayUnderTest(t);
  const [agent, server] = await Promise.all([
    connectChannel(dial(t, relay.port), { staticKey: agentKey, remoteStaticKey: relay.key.publicKey }),
    relay.nextAccept(),
  ]);
  const max = 2n ** 64n - 1n;
  agent.transport.setNoncesForTestingOnly(max - 1n, null);
  server.transport.setNoncesForTestingOnly(null, max - 1n);
  const got = collect(server, 1);
  const agentClosed = closed(agent); const serverClosed = closed(server);
  t.equal(agent.send(Buffer.from('last words')), true);
  t.equal(agent.send(Buffer.from('one too many')), false, 'the send that would use 2^64−1 is refused');
  t.equal((await got)[0].toString(), 'last words', 'what was sent before is delivered');
  t.equal(((await agentClosed) as NoiseError).code, 'NONCE_EXHAUSTED');
  t.equal(await serverClosed, undefined, 'the peer sees an orderly FIN');
});

t.test('pause() pushes back to the sender through TCP; resume() delivers everything in order', async (t) => {
  const relay = await relayUnderTest(t);
  const [agent, server] = await Promise.all([
    connectChannel(dial(t, relay.port), { staticKey: agentKey, remoteStaticKey: relay.key.publicKey }),
    relay.nextAccept(),
  ]);
  const block = randomBytes(65519);
  let received = 0; let inOrder = true;
  let allDelivered!: () => void;
  const allIn = new Promise<void>((r) => { allDelivered = r; });
  server.onMessage = (m) => { if (m.readUInt32BE(0) !== received) inOrder = false; if (++received === sent) allDelivered(); };
  server.pause();
  let sent = 0;
  for (; sent < 4000; sent++) {
    block.writeUInt32BE(sent, 0);
    if (!agent.send(block)) { sent++; break; }
  }
  t.ok(sent < 4000, `send() reported backpressure after ${sent} messages`);
  const drained = new Promise<number>((r) => { agent.onDrain = () => r(agent.socket.writableLength); });
  t.equal(received, 0, 'nothing delivered while paused');
  server.resume();
  t.equal(await drained, 0, 'onDrain came once the agent\'s write buffer had emptied');
  await allIn;
  t.equal(received, sent); t.ok(inOrder, 'in order');
  agent.destroy();
});

t.test('destroy() reports onClose exactly once', async (t) => {
  const relay = await relayUnderTest(t);
  const [agent] = await Promise.all([
    connectChannel(dial(t, relay.port), { staticKey: agentKey, remoteStaticKey: relay.key.publicKey }),
    relay.nextAccept(),
  ]);
  let calls = 0; let error: Error | undefined;
  const done = new Promise<void>((r) => { agent.onClose = (e) => { calls++; error = e; setImmediate(r); }; });
  agent.destroy(); agent.destroy(new Error('again'));
  await done;
  t.equal(calls, 1);
  t.type(error, ChannelError);
  t.equal((error as ChannelError).code, 'CLOSED');
  t.equal(agent.send(Buffer.from('x')), false, 'send after close is a no-op');
});
