// The handshake over real loopback sockets, both roles: preamble refusals, replay, key
// confirmation, deadlines, pending-handshake limits, garbage; one log line per refusal.
import t from 'tap';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import { HandshakeState, generateKeyPair } from '../../src/crypto/index.js';
import { connectChannel } from '../../src/channel/index.js';
import { collect, rejection, relayUnderTest } from '../helpers/noise.js';
import { dial, listen, readBytes, untilClosed } from '../helpers/net.js';

const MAGIC = Buffer.from('RLYN');
const agentKey = generateKeyPair();

t.test('a wrong relay key fails the handshake on both sides, with one log line', async (t) => {
  const relay = await relayUnderTest(t);
  const [agentErr, relayErr] = await Promise.all([
    rejection(connectChannel(dial(t, relay.port), { staticKey: agentKey, remoteStaticKey: generateKeyPair().publicKey })),
    rejection(relay.nextAccept()),
  ]);
  t.equal(agentErr.code, 'HANDSHAKE_FAILED');
  t.match(agentErr.message, /relay public key/);
  t.equal(relayErr.code, 'HANDSHAKE_FAILED');
  const failures = relay.lines.filter((l) => l.event === 'noise.handshake_failed');
  t.equal(failures.length, 1, 'one log line');
  t.equal(failures[0].code, 'HANDSHAKE_FAILED');
  const secret = relay.key.privateKey.toString('base64url');
  t.notMatch(JSON.stringify(relay.lines), secret, 'no private key in logs');
});

t.test('a version or suite mismatch is told clearly to both sides', async (t) => {
  const relay = await relayUnderTest(t, { ciphers: ['chachapoly'] });
  // A future agent (version 2) meets this relay: it is told our version in plaintext.
  const raw = dial(t, relay.port);
  raw.write(Buffer.concat([MAGIC, Buffer.from([2, 1])]));
  const [reply, relayErr] = await Promise.all([readBytes(raw, 6), rejection(relay.nextAccept())]);
  t.same(reply, Buffer.concat([MAGIC, Buffer.from([1, 1])]), 'reply: magic, version 1, status VERSION_MISMATCH');
  t.equal(relayErr.code, 'VERSION_MISMATCH');
  t.match(relayErr.message, 'agent speaks protocol version 2, this relay 1');

  // This agent meets a future relay that answers with version 2.
  const port = await listen(net.createServer((s) => { s.once('data', () => s.end(Buffer.concat([MAGIC, Buffer.from([2, 1])]))); }), t);
  const err = await rejection(connectChannel(dial(t, port), { staticKey: agentKey, remoteStaticKey: relay.key.publicKey }));
  t.equal(err.code, 'VERSION_MISMATCH');
  t.equal(err.message, 'relay speaks protocol version 2, this agent 1');

  const [suiteErr, relaySuiteErr] = await Promise.all([
    rejection(connectChannel(dial(t, relay.port), { staticKey: agentKey, remoteStaticKey: relay.key.publicKey, cipher: 'aesgcm' })),
    rejection(relay.nextAccept()),
  ]);
  t.equal(suiteErr.code, 'SUITE_UNSUPPORTED');
  t.equal(relaySuiteErr.code, 'SUITE_UNSUPPORTED');

  // Something that is not a relay at all.
  const web = await listen(net.createServer((s) => { s.once('data', () => s.end('HTTP/1.1 400 Bad Request\r\n\r\n')); }), t);
  t.equal((await rejection(connectChannel(dial(t, web), { staticKey: agentKey, remoteStaticKey: relay.key.publicKey }))).code, 'GARBAGE');
});

/** An initiator written from docs/protocol.md alone, byte by byte, to drive the relay by hand. */
function handMadeFirstFlight(relayPub: Uint8Array, timestamp: Buffer) {
  const preamble = Buffer.concat([MAGIC, Buffer.from([1, 1])]);
  const prologue = Buffer.concat([Buffer.from('relay noise v1\0'), preamble, MAGIC, Buffer.from([1, 0])]);
  const hs = new HandshakeState({ protocolName: 'Noise_IK_25519_ChaChaPoly_BLAKE2s', initiator: true, prologue, s: agentKey.privateKey, rs: relayPub });
  const msg1 = hs.writeMessage(timestamp);
  const len = Buffer.alloc(2); len.writeUInt16BE(msg1.length);
  return { hs, bytes: Buffer.concat([preamble, len, msg1]) };
}

function tai64n(secondsSinceEpoch: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeBigUInt64BE(0x400000000000000an + BigInt(secondsSinceEpoch));
  return b;
}

t.test('replay: a replayed first message creates no session; nothing is kept before key confirmation', async (t) => {
  const relay = await relayUnderTest(t, { handshakeTimeoutMs: 300 });
  const flight = handMadeFirstFlight(relay.key.publicKey, tai64n(1_600_000_000));

  // 1. An attacker replays a first message it captured: the relay answers, but the attacker
  //    cannot confirm (no ephemeral key). The deadline ends it; nothing is remembered.
  const spy = dial(t, relay.port);
  spy.write(flight.bytes);
  await readBytes(spy, 6 + 2 + 48);
  spy.write(Buffer.concat([Buffer.from([0, 16]), randomBytes(16)])); // a forged confirmation
  t.equal((await rejection(relay.nextAccept())).code, 'HANDSHAKE_FAILED', 'forged confirmation refused');
  t.equal(relay.responder.replayCache.size, 0, 'no state kept for an unconfirmed handshake');

  // 2. The genuine agent completes the same first flight and confirms.
  const real = dial(t, relay.port);
  real.write(flight.bytes);
  const reply = await readBytes(real, 6);
  t.same(reply, Buffer.concat([MAGIC, Buffer.from([1, 0])]), 'responder preamble: OK');
  const msg2 = await readBytes(real, 2 + 48);
  t.equal(msg2.readUInt16BE(0), 48);
  flight.hs.readMessage(msg2.subarray(2));
  const [send] = flight.hs.split();
  const confirm = send.encryptWithAd(Buffer.alloc(0), Buffer.alloc(0));
  const hello = send.encryptWithAd(Buffer.alloc(0), Buffer.from('hello relay'));
  const frame = (m: Uint8Array) => { const l = Buffer.alloc(2); l.writeUInt16BE(m.length); return Buffer.concat([l, m]); };
  real.write(Buffer.concat([frame(confirm), frame(hello)]));
  const channel = await relay.nextAccept();
  t.same(channel.remoteStaticKey, agentKey.publicKey);
  t.equal((await collect(channel, 1))[0].toString(), 'hello relay', 'data sent right behind the confirmation arrives');
  t.equal(relay.responder.replayCache.size, 1, 'confirmed timestamp remembered');

  // 3. The same first message again, after confirmation: refused at once, one log line.
  const replay = dial(t, relay.port);
  replay.write(flight.bytes);
  const err = await rejection(relay.nextAccept());
  t.equal(err.code, 'REPLAY');
  t.equal(relay.lines.filter((l) => l.code === 'REPLAY').length, 1);
  // An older timestamp too; a newer one is welcome.
  replay.destroy();
  const older = dial(t, relay.port); older.write(handMadeFirstFlight(relay.key.publicKey, tai64n(1_500_000_000)).bytes);
  t.equal((await rejection(relay.nextAccept())).code, 'REPLAY');
  const agent = await connectChannel(dial(t, relay.port), { staticKey: agentKey, remoteStaticKey: relay.key.publicKey });
  t.ok(await relay.nextAccept(), 'a fresh handshake from the same key is accepted');
  agent.destroy();
});

t.test('handshake deadline, on both sides', async (t) => {
  const relay = await relayUnderTest(t, { handshakeTimeoutMs: 200 });
  const silent = dial(t, relay.port, { allowHalfOpen: true });
  silent.write(MAGIC.subarray(0, 2));
  const heard = untilClosed(silent);
  t.equal((await rejection(relay.nextAccept())).code, 'TIMEOUT');
  t.same(await heard, { data: Buffer.alloc(0), ending: 'eof' }, 'the relay closed the silent connection without a word');
  const port = await listen(net.createServer(() => {}), t); // accepts and never answers
  const err = await rejection(connectChannel(dial(t, port), { staticKey: agentKey, remoteStaticKey: relay.key.publicKey, handshakeTimeoutMs: 200 }));
  t.equal(err.code, 'TIMEOUT');
});

t.test('an invalid rekey option fails the handshake with BAD_STATE and gives up the socket', async (t) => {
  const relay = await relayUnderTest(t);
  const socket = dial(t, relay.port);
  const err = await rejection(connectChannel(socket, { staticKey: agentKey, remoteStaticKey: relay.key.publicKey, rekeyAfterMessages: 0 }));
  t.equal(err.code, 'BAD_STATE');
  t.equal(socket.destroyed, true, 'the socket is destroyed, not left to the deadline');
  void relay.nextAccept().catch(() => {});
});

t.test('pending handshakes per source address are limited', async (t) => {
  const relay = await relayUnderTest(t, { maxPendingPerAddress: 2, handshakeTimeoutMs: 5000 });
  const idle = [dial(t, relay.port), dial(t, relay.port)];
  const pendingOutcomes = [relay.nextAccept(), relay.nextAccept()];
  const third = dial(t, relay.port);
  const [reply, err] = await Promise.all([readBytes(third, 6), rejection(relay.nextAccept())]);
  t.equal(err.code, 'TOO_MANY_PENDING');
  t.same(reply, Buffer.concat([MAGIC, Buffer.from([1, 3])]), 'told in plaintext');
  t.equal(relay.responder.pendingFrom('127.0.0.1'), 2);
  const agentErr = rejection(connectChannel(dial(t, relay.port), { staticKey: agentKey, remoteStaticKey: relay.key.publicKey }));
  t.equal((await agentErr).code, 'TOO_MANY_PENDING');
  t.match((await agentErr).message, /too many pending handshakes/);
  void relay.nextAccept().catch(() => {});
  for (const s of idle) s.destroy();
  for (const p of pendingOutcomes) t.equal((await rejection(p)).code, 'HANDSHAKE_FAILED');
  t.equal(relay.responder.pendingFrom('127.0.0.1'), 0, 'slots released');
  const ok = await connectChannel(dial(t, relay.port), { staticKey: agentKey, remoteStaticKey: relay.key.publicKey });
  t.ok(ok, 'a new agent gets through');
  ok.destroy();
});

t.test('garbage on the port: dropped with one log line, never a crash', async (t) => {
  const relay = await relayUnderTest(t, { handshakeTimeoutMs: 300, maxPendingPerAddress: 100 });
  const http = dial(t, relay.port);
  http.write('GET / HTTP/1.1\r\nHost: relay\r\n\r\n');
  const err = await rejection(relay.nextAccept());
  t.equal(err.code, 'GARBAGE');
  t.equal(relay.lines.length, 1, 'exactly one log line');
  t.match(relay.lines[0], { event: 'noise.handshake_failed', code: 'GARBAGE' });
  await new Promise((r) => http.once('close', r));
  // Random bytes, and random bytes after a valid preamble: always a typed refusal (run side by side).
  const cases = fc.sample(fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.boolean()), { numRuns: 40, seed: 42 });
  const codes = await Promise.all(cases.map(async ([junk, withPreamble]) => {
    const s = dial(t, relay.port);
    s.write(withPreamble ? Buffer.concat([MAGIC, Buffer.from([1, 1]), junk]) : Buffer.from(junk));
    const e = await rejection(relay.nextAccept());
    s.destroy();
    return e.code;
  }));
  t.same([...new Set(codes)].filter((c) => !['GARBAGE', 'HANDSHAKE_FAILED', 'TIMEOUT'].includes(c)), [], `typed refusals: ${[...new Set(codes)].join(', ')}`);
  t.ok(relay.lines.every((l) => l.event === 'noise.handshake_failed'), 'every failure logged as such');
});

t.test('stalled handshakes from many addresses do not lock a new agent out: the oldest gives way', async (t) => {
  const relay = await relayUnderTest(t, { maxPending: 4, handshakeTimeoutMs: 20_000 });
  const stalled = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'].map((localAddress) => {
    const s = net.connect({ port: relay.port, host: '127.0.0.1', localAddress });
    s.on('error', () => {});
    t.teardown(() => { s.destroy(); });
    return s;
  });
  const outcomes = stalled.map(() => relay.nextAccept());
  await Promise.all(stalled.map((s) => once(s, 'connect')));
  const agent = connectChannel(net.connect(relay.port, '127.0.0.1'), { staticKey: agentKey, remoteStaticKey: relay.key.publicKey });
  const accepted = relay.nextAccept();
  const evicted = await rejection(outcomes[0]);
  t.equal(evicted.code, 'TOO_MANY_PENDING', 'the oldest stalled handshake was evicted');
  t.match(evicted.message, /evicted/);
  const ch = await agent;
  t.ok((await accepted).remoteStaticKey.equals(agentKey.publicKey), 'the new agent got through');
  ch.destroy();
  await Promise.race(stalled.map((s) => (s.closed ? Promise.resolve() : once(s, 'close'))));
  t.equal(stalled.filter((s) => s.destroyed).length, 1, 'only the oldest was cut');
  for (const s of stalled) s.destroy();
  for (const o of outcomes.slice(1)) t.equal((await rejection(o)).code, 'HANDSHAKE_FAILED', 'the others were still pending');
});
