// The generic Noise objects: backends agree, tampering and wrong keys fail, nonces behave as
// Noise §5.1 and §12 say, low-order keys are refused.
import t from 'tap';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import {
  CipherState, HandshakeState, NoiseError, nativeBackend, nobleBackend, nodeBackend, sodiumBackend, type BackendName, type CryptoBackend,
} from '../../src/crypto/index.js';

// sodium-native (an optional dependency) and the native addon are installed by npm ci, here and in CI.
const BACKENDS: CryptoBackend[] = [nodeBackend, nobleBackend, sodiumBackend!, nativeBackend!];
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const code = (fn: () => unknown): string | undefined => {
  try { fn(); return undefined; } catch (err) { return err instanceof NoiseError ? err.code : `non-NoiseError: ${String(err)}`; }
};

interface Party { s?: Uint8Array; rs?: Uint8Array; e?: Uint8Array }
function keysFor(pattern: string, initiatorS: Uint8Array, responderS: Uint8Array, responderPub: Uint8Array, initiatorPub: Uint8Array): [Party, Party] {
  const init: Party = {}; const resp: Party = {};
  const letters = pattern.replace(/1/g, '');
  // One-way patterns (N, K, X) name only the initiator; their responder's static key is always known.
  const first = letters[0]; const second = letters.length === 1 ? 'K' : letters[1];
  if (first !== 'N') init.s = initiatorS;
  if (first === 'K') resp.rs = initiatorPub;
  if (second !== 'N') resp.s = responderS;
  if (second === 'K') init.rs = responderPub;
  return [init, resp];
}

/** Runs a whole handshake plus a transport message each way; returns every byte on the wire. */
function run(protocolName: string, ib: BackendName, rb: BackendName, ephemerals?: [Uint8Array, Uint8Array], statics?: [Uint8Array, Uint8Array]) {
  const dh = nodeBackend.dh('25519');
  const [is, rs] = statics ?? [dh.generateKeyPair().privateKey, dh.generateKeyPair().privateKey];
  const pattern = protocolName.split('_')[1];
  const [ik, rk] = keysFor(pattern, is, rs, dh.publicKey(rs), dh.publicKey(is));
  const prologue = Buffer.from('cross-check');
  const init = new HandshakeState({ protocolName, initiator: true, prologue, ...ik, e: ephemerals?.[0], backend: ib });
  const resp = new HandshakeState({ protocolName, initiator: false, prologue, ...rk, e: ephemerals?.[1], backend: rb });
  const wire: string[] = [];
  for (let i = 0; !init.isHandshakeComplete(); i++) {
    const [w, r] = i % 2 === 0 ? [init, resp] : [resp, init];
    const payload = Buffer.alloc(i * 7, i + 1);
    const msg = w.writeMessage(payload);
    wire.push(hex(msg));
    if (hex(r.readMessage(msg)) !== hex(payload)) throw new Error('payload mismatch');
  }
  const [i1, i2] = init.split(); const [r1, r2] = resp.split();
  for (const [a, b] of [[i1, r1], [r2, i2]]) {
    const m = Buffer.alloc(100, 0xa5);
    const ct = a.encryptWithAd(Buffer.from('ad'), m);
    wire.push(hex(ct));
    if (hex(b.decryptWithAd(Buffer.from('ad'), ct)) !== hex(m)) throw new Error('transport mismatch');
  }
  if (hex(init.getHandshakeHash()) !== hex(resp.getHandshakeHash())) throw new Error('handshake hashes differ');
  return wire.join(' ');
}

t.test('node and noble backends agree byte for byte on random keys', async (t) => {
  const names = ['IK', 'XK', 'XX', 'NK', 'NN', 'KK', 'IX', 'X', 'K1X1'].flatMap((p) =>
    ['ChaChaPoly', 'AESGCM'].flatMap((c) => ['BLAKE2s', 'SHA256', 'SHA512'].map((h) => `Noise_${p}_25519_${c}_${h}`)));
  const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
  fc.assert(fc.property(fc.constantFrom(...names), key, key, key, key, (name, e1, e2, s1, s2) => {
    const reference = run(name, 'noble', 'noble', [e1, e2], [s1, s2]);
    return run(name, 'node', 'node', [e1, e2], [s1, s2]) === reference && run(name, 'node', 'noble', [e1, e2], [s1, s2]) === reference;
  }), { numRuns: 30 });
  // With random ephemeral keys, a mixed pair still agrees (any difference fails a decrypt).
  for (const name of names) t.doesNotThrow(() => { run(name, 'node', 'noble'); run(name, 'noble', 'node'); }, `${name}: node↔noble`);
});

t.test('the backends produce identical ciphertexts, hashes and HMACs on random inputs', async (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.bigInt({ min: 0n, max: 2n ** 64n - 2n }),
    fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 3000 }), fc.uint8Array({ maxLength: 300 }), (k, n, ad, pt, hk) => {
      for (const c of ['ChaChaPoly', 'AESGCM'] as const) {
        const [a1, a2] = nodeBackend.cipher(c).encrypt(k, n, ad, pt);
        const [b1, b2] = nobleBackend.cipher(c).encrypt(k, n, ad, pt);
        if (hex(a1) !== hex(b1) || hex(a2) !== hex(b2)) return false;
        if (hex(nobleBackend.cipher(c).decrypt(k, n, ad, a1, a2)) !== hex(pt)) return false;
      }
      for (const h of ['BLAKE2s', 'SHA256', 'BLAKE2b', 'SHA512'] as const) {
        if (hex(nodeBackend.hash(h).hash(pt, ad)) !== hex(nobleBackend.hash(h).hash(pt, ad))) return false;
        // Keys longer than the block are hashed first (RFC 2104): the range covers both cases.
        if (hex(nodeBackend.hash(h).hmac(hk, pt)) !== hex(nobleBackend.hash(h).hmac(hk, pt))) return false;
      }
      const priv = k;
      const pub = nodeBackend.dh('25519').generateKeyPair().publicKey;
      return hex(nodeBackend.dh('25519').dh(priv, pub)) === hex(nobleBackend.dh('25519').dh(priv, pub))
        && hex(nodeBackend.dh('25519').publicKey(priv)) === hex(nobleBackend.dh('25519').publicKey(priv));
    }), { numRuns: 200 }), '200 random cases agree');
});

t.test('a flipped bit anywhere in an authenticated handshake message fails that message', async (t) => {
  const dh = nodeBackend.dh('25519');
  for (const pattern of ['IK', 'XK', 'NK', 'XX']) {
    const name = `Noise_${pattern}_25519_ChaChaPoly_BLAKE2s`;
    const iS = dh.generateKeyPair().privateKey; const rS = dh.generateKeyPair().privateKey;
    const [ik, rk] = keysFor(pattern, iS, rS, dh.publicKey(rS), dh.publicKey(iS));
    const iE = dh.generateKeyPair().privateKey; const rE = dh.generateKeyPair().privateKey;
    const fresh = () => ({
      init: new HandshakeState({ protocolName: name, initiator: true, prologue: Buffer.alloc(0), ...ik, e: iE }),
      resp: new HandshakeState({ protocolName: name, initiator: false, prologue: Buffer.alloc(0), ...rk, e: rE }),
    });
    const msgCount = pattern === 'IK' || pattern === 'NK' ? 2 : 3;
    for (let m = 0; m < msgCount; m++) {
      // XX's first message is a bare ephemeral key, authenticated only by the next one.
      if (pattern === 'XX' && m === 0) continue;
      let bad = 0; let bits = 0;
      const ref = fresh();
      const msgs: Uint8Array[] = [];
      for (let i = 0; i <= m; i++) {
        const [w, r] = i % 2 === 0 ? [ref.init, ref.resp] : [ref.resp, ref.init];
        msgs.push(w.writeMessage(Buffer.from('payload')));
        if (i < m) r.readMessage(msgs[i]);
      }
      // Every bit of IK's first message; elsewhere every 7th bit, which still touches every byte.
      const stride = pattern === 'IK' && m === 0 ? 1 : 7;
      for (let bit = 0; bit < msgs[m].length * 8; bit += stride) {
        // Fresh states with the same keys replay the transcript up to message m, then read a flipped copy.
        const s = fresh();
        for (let i = 0; i < m; i++) {
          const [w, r] = i % 2 === 0 ? [s.init, s.resp] : [s.resp, s.init];
          r.readMessage(w.writeMessage(Buffer.from('payload')));
        }
        const reader = m % 2 === 0 ? s.resp : s.init;
        const flipped = Uint8Array.from(msgs[m]);
        flipped[bit >> 3] ^= 1 << (bit & 7);
        bits++;
        if (code(() => reader.readMessage(flipped)) !== undefined) bad++;
      }
      t.equal(bad, bits, `${pattern} message ${m + 1}: all ${bits} single-bit flips tried were rejected`);
    }
  }
});

t.test('a flipped bit anywhere in a transport message fails authentication, on both backends', async (t) => {
  for (const b of BACKENDS) {
    for (const c of ['ChaChaPoly', 'AESGCM'] as const) {
      const k = randomBytes(32);
      const ct = new CipherState(b.cipher(c), k).encryptWithAd(Buffer.from('ad'), randomBytes(64));
      let rejected = 0;
      for (let bit = 0; bit < ct.length * 8; bit++) {
        const f = Uint8Array.from(ct); f[bit >> 3] ^= 1 << (bit & 7);
        if (code(() => new CipherState(b.cipher(c), k).decryptWithAd(Buffer.from('ad'), f)) === 'DECRYPT_FAILED') rejected++;
      }
      t.equal(rejected, ct.length * 8, `${b.name} ${c}: every bit flip rejected`);
      t.equal(code(() => new CipherState(b.cipher(c), k).decryptWithAd(Buffer.from('AD'), ct)), 'DECRYPT_FAILED', `${b.name} ${c}: wrong ad rejected`);
    }
  }
});

t.test('a wrong remote static key fails the handshake', async (t) => {
  const dh = nodeBackend.dh('25519');
  for (const b of ['node', 'noble'] as const) {
    for (const pattern of ['IK', 'XK', 'NK']) {
      const name = `Noise_${pattern}_25519_ChaChaPoly_BLAKE2s`;
      const iS = dh.generateKeyPair().privateKey; const rS = dh.generateKeyPair().privateKey;
      const wrong = dh.generateKeyPair().publicKey;
      const init = new HandshakeState({ protocolName: name, initiator: true, prologue: Buffer.alloc(0), s: pattern === 'NK' ? undefined : iS, rs: wrong, backend: b });
      const resp = new HandshakeState({ protocolName: name, initiator: false, prologue: Buffer.alloc(0), s: rS, backend: b });
      const m1 = init.writeMessage(Buffer.from('hello'));
      t.equal(code(() => resp.readMessage(m1)), 'DECRYPT_FAILED', `${b} ${pattern}: responder rejects message 1`);
      t.equal(code(() => resp.writeMessage(Buffer.alloc(0))), 'BAD_STATE', `${b} ${pattern}: a failed handshake cannot continue`);
    }
    // A different prologue (e.g. a tampered preamble) fails the same way.
    const name = 'Noise_IK_25519_AESGCM_SHA256';
    const rS = dh.generateKeyPair();
    const init = new HandshakeState({ protocolName: name, initiator: true, prologue: Buffer.from('v1'), s: dh.generateKeyPair().privateKey, rs: rS.publicKey, backend: b });
    const resp = new HandshakeState({ protocolName: name, initiator: false, prologue: Buffer.from('v2'), s: rS.privateKey, backend: b });
    t.equal(code(() => resp.readMessage(init.writeMessage(Buffer.alloc(0)))), 'DECRYPT_FAILED', `${b}: prologue mismatch rejected`);
  }
});

t.test('nonces: encoding per cipher, 2^64−1 reserved, a failed decrypt does not advance', async (t) => {
  const k = randomBytes(32);
  // Noise §12.3 ChaChaPoly: 4 zero bytes then the 64-bit nonce little-endian.
  const n = 0x0102030405060708n;
  const ours = new CipherState(nodeBackend.cipher('ChaChaPoly'), k);
  ours.setNonce(n);
  const iv = Buffer.from('00000000' + '0807060504030201', 'hex');
  t.equal(hex(ours.encryptWithAd(Buffer.alloc(0), Buffer.from('x'))), hex(chacha20poly1305(k, iv).encrypt(Buffer.from('x'))), 'ChaChaPoly nonce is little-endian');
  for (const b of BACKENDS) {
    for (const c of ['ChaChaPoly', 'AESGCM'] as const) {
      const send = new CipherState(b.cipher(c), k); const recv = new CipherState(b.cipher(c), k);
      send.setNonce(2n ** 64n - 2n); recv.setNonce(2n ** 64n - 2n);
      const ct = send.encryptWithAd(Buffer.alloc(0), Buffer.from('last'));
      t.equal(code(() => send.encryptWithAd(Buffer.alloc(0), Buffer.from('one more'))), 'NONCE_EXHAUSTED', `${b.name} ${c}: 2^64−1 never used to encrypt`);
      const bad = Uint8Array.from(ct); bad[0] ^= 1;
      t.equal(code(() => recv.decryptWithAd(Buffer.alloc(0), bad)), 'DECRYPT_FAILED', `${b.name} ${c}: tampered rejected`);
      t.equal(recv.nonce, 2n ** 64n - 2n, `${b.name} ${c}: failed decrypt left the nonce alone`);
      t.equal(Buffer.from(recv.decryptWithAd(Buffer.alloc(0), ct)).toString(), 'last', `${b.name} ${c}: the genuine message still decrypts`);
      t.equal(code(() => recv.decryptWithAd(Buffer.alloc(0), ct)), 'NONCE_EXHAUSTED', `${b.name} ${c}: 2^64−1 never used to decrypt`);
    }
  }
});

t.test('rekey follows Noise §4.2 and keeps both sides in step', async (t) => {
  const k = randomBytes(32);
  for (const b of BACKENDS) {
    const a = new CipherState(b.cipher('ChaChaPoly'), k); const z = new CipherState(b.cipher('ChaChaPoly'), k);
    a.encryptWithAd(Buffer.alloc(0), Buffer.from('1')); z.setNonce(1n);
    a.rekey(); z.rekey();
    t.equal(a.nonce, 1n, `${b.name}: rekey keeps n`);
    const ct = a.encryptWithAd(Buffer.alloc(0), Buffer.from('after'));
    t.equal(Buffer.from(z.decryptWithAd(Buffer.alloc(0), ct)).toString(), 'after', `${b.name}: both sides rekeyed alike`);
    // REKEY(k) = first 32 bytes of ENCRYPT(k, 2^64−1, zerolen, zeros[32]), computed independently.
    const maxIv = Buffer.from('00000000ffffffffffffffff', 'hex');
    const expectedKey = chacha20poly1305(k, maxIv).encrypt(new Uint8Array(32)).subarray(0, 32);
    const check = new CipherState(nobleBackend.cipher('ChaChaPoly'), expectedKey); check.setNonce(1n);
    t.equal(hex(check.encryptWithAd(Buffer.alloc(0), Buffer.from('after'))), hex(ct), `${b.name}: rekeyed key is the spec's`);
    const stale = new CipherState(b.cipher('ChaChaPoly'), k); stale.setNonce(1n);
    t.equal(code(() => stale.decryptWithAd(Buffer.alloc(0), ct)), 'DECRYPT_FAILED', `${b.name}: the old key no longer works`);
  }
});

t.test('low-order (invalid) public keys are refused by both backends', async (t) => {
  const lowOrder = [
    '0000000000000000000000000000000000000000000000000000000000000000', // 0
    '0100000000000000000000000000000000000000000000000000000000000000', // 1
    'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', // order 8
    '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157', // order 8
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p − 1
    'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p (= 0)
    'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p + 1 (= 1)
  ];
  for (const b of BACKENDS) {
    const dh = b.dh('25519');
    const kp = dh.generateKeyPair();
    for (const p of lowOrder) t.equal(code(() => dh.dh(kp.privateKey, Buffer.from(p, 'hex'))), 'INVALID_PUBLIC_KEY', `${b.name} refuses ${p.slice(0, 8)}…`);
    // And in a handshake: an initiator sending a low-order ephemeral key is refused at `es`.
    const rS = dh.generateKeyPair();
    const resp = new HandshakeState({ protocolName: 'Noise_NK_25519_ChaChaPoly_BLAKE2s', initiator: false, prologue: Buffer.alloc(0), s: rS.privateKey, backend: b.name });
    t.equal(code(() => resp.readMessage(Buffer.concat([Buffer.from(lowOrder[2], 'hex'), Buffer.alloc(16)]))), 'INVALID_PUBLIC_KEY', `${b.name}: handshake refuses a low-order e`);
  }
});

t.test('misuse gets typed errors', async (t) => {
  const dh = nodeBackend.dh('25519');
  t.equal(code(() => new HandshakeState({ protocolName: 'Noise_IK_448_ChaChaPoly_BLAKE2s', initiator: true, prologue: Buffer.alloc(0) })), 'UNSUPPORTED');
  t.equal(code(() => new HandshakeState({ protocolName: 'Noise_ZZ_25519_ChaChaPoly_BLAKE2s', initiator: true, prologue: Buffer.alloc(0) })), 'UNSUPPORTED');
  t.equal(code(() => new HandshakeState({ protocolName: 'Noise_IK_25519_ChaChaPoly_BLAKE2s', initiator: true, prologue: Buffer.alloc(0), s: dh.generateKeyPair().privateKey })), 'BAD_STATE', 'IK initiator without rs');
  t.equal(code(() => new HandshakeState({ protocolName: 'Noise_NN_25519_ChaChaPoly_BLAKE2s', initiator: true, prologue: Buffer.alloc(0), backend: 'wasm' as BackendName })), 'UNSUPPORTED');
  const hs = new HandshakeState({ protocolName: 'Noise_NN_25519_ChaChaPoly_BLAKE2s', initiator: false, prologue: Buffer.alloc(0) });
  t.equal(code(() => hs.writeMessage(Buffer.alloc(0))), 'BAD_STATE', 'responder cannot write first');
  t.equal(code(() => hs.split()), 'BAD_STATE', 'no split before completion');
  t.equal(code(() => hs.readMessage(Buffer.alloc(10))), 'BAD_MESSAGE', 'short message');
  const big = new HandshakeState({ protocolName: 'Noise_NN_25519_ChaChaPoly_BLAKE2s', initiator: true, prologue: Buffer.alloc(0) });
  t.equal(code(() => big.writeMessage(Buffer.alloc(65535))), 'MESSAGE_TOO_LARGE');
});
