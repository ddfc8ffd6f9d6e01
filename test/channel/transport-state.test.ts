// TransportState alone, no socket: frames are collected in a list and handed to the peer's state
// by hand, so every rekey, marker and nonce can be looked at.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { CipherState, NoiseError, nodeBackend, type CipherFunctionName } from '../../src/crypto/index.js';
import { MAX_PLAINTEXT, TransportState, type FrameSink, type RekeyPolicy } from '../../src/channel/transport-state.js';

const MAX_NONCE = 2n ** 64n - 1n;

class ListSink implements FrameSink {
  readonly frames: Buffer[] = [];
  /** What writeFrame answers: false stands for a socket above its high-water mark. */
  accepting = true;
  writeFrame(ciphertext: Uint8Array, tag: Uint8Array): boolean {
    this.frames.push(Buffer.concat([ciphertext, tag]));
    return this.accepting;
  }
}

/** Two states as Split leaves them: a's sending key is b's receiving key and the other way round. */
function pair(policy: RekeyPolicy = {}, now?: () => number, cipher: CipherFunctionName = 'ChaChaPoly') {
  const fns = nodeBackend.cipher(cipher);
  const aToB = randomBytes(32); const bToA = randomBytes(32);
  const aSend = new CipherState(fns, aToB);
  const a = new TransportState(aSend, new CipherState(fns, bToA), policy, now);
  const b = new TransportState(new CipherState(fns, bToA), new CipherState(fns, aToB), policy, now);
  return { a, b, aToB, aSend };
}

function codeOf(fn: () => unknown): string | undefined {
  try { fn(); } catch (err) { return err instanceof NoiseError ? err.code : `not a NoiseError: ${String(err)}`; }
  return undefined;
}

/** Sends each message from `from` into a fresh sink and returns the frames written. */
function sendAll(from: TransportState, messages: Buffer[]): Buffer[] {
  const sink = new ListSink();
  for (const m of messages) from.encrypt(m, sink);
  return sink.frames;
}

/** Everything `to` makes of the frames: plaintexts, and null for each rekey marker. */
function receiveAll(to: TransportState, frames: Buffer[]): (string | null)[] {
  return frames.map((f) => { const p = to.decrypt(f); return p === null ? null : p.toString('hex'); });
}

t.test('round trip both ways, both ciphers; one frame per message, ciphertext then a 16-byte tag', async (t) => {
  for (const cipher of ['ChaChaPoly', 'AESGCM'] as const) {
    const { a, b } = pair({}, undefined, cipher);
    const sizes = [1, 2, 100, 1500, MAX_PLAINTEXT];
    const messages = sizes.map((n) => randomBytes(n));
    const up = sendAll(a, messages);
    t.same(up.map((f) => f.length), sizes.map((n) => n + 16), `${cipher}: frame = plaintext + tag`);
    t.same(receiveAll(b, up), messages.map((m) => m.toString('hex')), `${cipher}: a→b intact`);
    const down = sendAll(b, messages);
    t.same(receiveAll(a, down), messages.map((m) => m.toString('hex')), `${cipher}: b→a intact`);
  }
});

t.test('encrypt passes on what the sink answers (backpressure)', async (t) => {
  const { a } = pair();
  const sink = new ListSink();
  t.equal(a.encrypt(Buffer.from('x'), sink), true);
  sink.accepting = false;
  t.equal(a.encrypt(Buffer.from('y'), sink), false);
  t.equal(sink.frames.length, 2);
});

t.test('an empty or oversized message is refused, nothing is written, and the state goes on', async (t) => {
  const { a, b } = pair();
  const sink = new ListSink();
  t.equal(codeOf(() => a.encrypt(Buffer.alloc(0), sink)), 'BAD_MESSAGE', 'empty: reserved for the rekey marker');
  t.equal(codeOf(() => a.encrypt(Buffer.alloc(MAX_PLAINTEXT + 1), sink)), 'MESSAGE_TOO_LARGE');
  t.equal(sink.frames.length, 0, 'nothing written');
  t.equal(a.error, undefined, 'not ended');
  a.encrypt(Buffer.from('still here'), sink);
  t.equal(b.decrypt(sink.frames[0])?.toString(), 'still here', 'no nonce was used by the refusals');
});

t.test('rekey after N messages: a marker before messages N+1, 2N+1, …; the peer follows it', async (t) => {
  const { a, b } = pair({ rekeyAfterMessages: 3 });
  const messages = [...Array(10).keys()].map((i) => Buffer.from(`up ${i}`));
  const frames = sendAll(a, messages);
  // A marker is an empty plaintext: the tag alone.
  t.same(frames.map((f) => f.length === 16), [false, false, false, true, false, false, false, true, false, false, false, true, false]);
  t.equal(a.rekeysSent, 3);
  const got = receiveAll(b, frames);
  t.same(got.filter((p) => p !== null), messages.map((m) => m.toString('hex')), 'every message intact across three rekeys');
  t.same(got.map((p) => p === null), frames.map((f) => f.length === 16), 'each marker taken as a marker, not delivered');
  t.equal(b.rekeysReceived, 3);
});

t.test('on the wire: the marker goes under the old key, the key changes, the nonce runs on (Noise §11.3)', async (t) => {
  const { a, aToB, aSend } = pair({ rekeyAfterMessages: 2 });
  const frames = sendAll(a, ['one', 'two', 'three'].map((m) => Buffer.from(m)));
  t.equal(frames.length, 4, 'one, two, marker, three');
  t.equal(aSend.nonce, 4n, 'four nonces used: the rekey did not reset the counter');
  // An independent receiver: a plain CipherState on the same key, rekeyed by hand (Noise §4.2 REKEY).
  const oracle = new CipherState(nodeBackend.cipher('ChaChaPoly'), aToB);
  const open = (f: Buffer) => Buffer.from(oracle.decryptWithAd(new Uint8Array(0), f)).toString();
  t.same([open(frames[0]), open(frames[1]), open(frames[2])], ['one', 'two', ''], 'the marker is an empty message under the old key');
  t.equal(codeOf(() => open(frames[3])), 'DECRYPT_FAILED', 'what follows is not under the old key');
  oracle.rekey();
  t.equal(open(frames[3]), 'three', 'it is under the rekeyed key, at the next nonce');
});

t.test('the marker matters: a peer that skips it cannot read what follows', async (t) => {
  const { a, b } = pair({ rekeyAfterMessages: 1 });
  const frames = sendAll(a, [Buffer.from('one'), Buffer.from('two')]);
  t.equal(frames.length, 3, 'message, marker, message');
  t.equal(b.decrypt(frames[0])?.toString(), 'one');
  // Skipping the marker leaves b one nonce behind and under the old key: either is enough to fail.
  t.equal(codeOf(() => b.decrypt(frames[2])), 'DECRYPT_FAILED');
});

t.test('rekey after the time bound, on an injected clock', async (t) => {
  let now = 5_000;
  const { a, b } = pair({ rekeyAfterMs: 1000 }, () => now);
  const sink = new ListSink();
  const send = (text: string): void => { a.encrypt(Buffer.from(text), sink); };
  send('at 0 ms');
  now += 999; send('at 999 ms');
  t.equal(a.rekeysSent, 0, 'the key is not yet 1000 ms old');
  now += 1; send('at 1000 ms');
  t.equal(a.rekeysSent, 1, 'rekeyed before the first message once the key is 1000 ms old');
  now += 500; send('at 1500 ms');
  t.equal(a.rekeysSent, 1, 'the new key\'s age counts from its rekey');
  now += 500; send('at 2000 ms');
  t.equal(a.rekeysSent, 2);
  t.same(sink.frames.map((f) => f.length === 16), [false, false, true, false, false, true, false]);
  t.same(receiveAll(b, sink.frames).filter((p) => p !== null).map((h) => Buffer.from(h, 'hex').toString()),
    ['at 0 ms', 'at 999 ms', 'at 1000 ms', 'at 1500 ms', 'at 2000 ms']);
  t.equal(b.rekeysReceived, 2);
});

t.test('nonce exhaustion ends the state with NONCE_EXHAUSTED (Noise §5.1)', async (t) => {
  const { a, b } = pair();
  a.setNoncesForTestingOnly(MAX_NONCE - 1n, null);
  b.setNoncesForTestingOnly(null, MAX_NONCE - 1n);
  const sink = new ListSink();
  a.encrypt(Buffer.from('last words'), sink);
  t.equal(b.decrypt(sink.frames[0])?.toString(), 'last words', 'nonce 2^64−2 is the last one used');
  t.equal(codeOf(() => a.encrypt(Buffer.from('one too many'), sink)), 'NONCE_EXHAUSTED', '2^64−1 is never used');
  t.equal(sink.frames.length, 1, 'nothing written for the refused message');
  t.equal((a.error as NoiseError | undefined)?.code, 'NONCE_EXHAUSTED', 'the state is over');
  t.equal(codeOf(() => a.encrypt(Buffer.from('again'), sink)), 'NONCE_EXHAUSTED', 'and stays over');
  t.equal(codeOf(() => a.decrypt(randomBytes(32))), 'NONCE_EXHAUSTED', 'both directions');
  t.equal(codeOf(() => b.decrypt(sink.frames[0])), 'NONCE_EXHAUSTED', 'the receiver too refuses nonce 2^64−1');
});

t.test('a tampered frame fails with DECRYPT_FAILED, delivers nothing and ends the state', async (t) => {
  for (const at of [0, 5, 20]) { // ciphertext, ciphertext, tag
    const { a, b } = pair();
    const [frame, next] = sendAll(a, [Buffer.from('pay the bearer'), Buffer.from('next')]);
    const bad = Buffer.from(frame); bad[at] ^= 0x01;
    t.equal(codeOf(() => b.decrypt(bad)), 'DECRYPT_FAILED', `byte ${at} flipped`);
    t.equal((b.error as NoiseError | undefined)?.code, 'DECRYPT_FAILED');
    t.equal(codeOf(() => b.decrypt(next)), 'DECRYPT_FAILED', 'a genuine frame after it is refused too');
  }
  const { b } = pair();
  t.equal(codeOf(() => b.decrypt(randomBytes(15))), 'BAD_MESSAGE', 'a frame shorter than its tag');
  t.equal((b.error as NoiseError | undefined)?.code, 'BAD_MESSAGE');
});

t.test('a rekey policy of fewer than one message is refused', async (t) => {
  t.equal(codeOf(() => pair({ rekeyAfterMessages: 0 })), 'BAD_STATE');
  t.equal(codeOf(() => pair({ rekeyAfterMessages: Number.NaN })), 'BAD_STATE');
});

t.test('a flood of rekey markers ends the state: two in a row, or more than the peer budget', async (t) => {
  // Markers made by hand, as a hostile peer would send them: empty messages under the sending key.
  const marker = (cs: CipherState): Buffer => { const [ct, tag] = cs.encryptWithAdParts(new Uint8Array(0), new Uint8Array(0)); cs.rekey(); return Buffer.concat([ct, tag]); };
  const message = (cs: CipherState): Buffer => { const [ct, tag] = cs.encryptWithAdParts(new Uint8Array(0), Buffer.from('x')); return Buffer.concat([ct, tag]); };
  {
    const { b, aSend } = pair();
    t.equal(b.decrypt(marker(aSend)), null, 'one marker is followed');
    t.equal(codeOf(() => b.decrypt(marker(aSend))), 'BAD_MESSAGE', 'a second with no message between is refused');
    t.equal(codeOf(() => b.decrypt(message(aSend))), 'BAD_MESSAGE', 'and the state is over');
  }
  {
    const now = 0;
    const { b, aSend } = pair({}, () => now);
    let followed = 0;
    const code = codeOf(() => { for (;;) { b.decrypt(marker(aSend)); followed++; b.decrypt(message(aSend)); } });
    t.equal(code, 'BAD_MESSAGE');
    t.equal(followed, 64, 'a burst of 64 rekeys is followed, the 65th at once is not');
  }
  {
    let now = 0;
    const { b, aSend } = pair({}, () => now);
    for (let i = 0; i < 200; i++) {
      now += 1000; // one a second, indefinitely: an honest, if eager, peer
      t.equal(b.decrypt(marker(aSend)), null);
      b.decrypt(message(aSend));
    }
    t.equal(b.rekeysReceived, 200);
  }
});
