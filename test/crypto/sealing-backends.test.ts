// The backends that seal into the caller's frame: the native addon (native/aead.c: OpenSSL, one
// context per key and direction; both ciphers) and libsodium (sodium-native; ChaChaPoly), each
// against node:crypto and @noble on random inputs; tampering, rekeyed keys, bad arguments; and
// which backend is the default.
import t from 'tap';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import {
  CipherState, NoiseError, getBackend, nativeBackend, nobleBackend, nodeBackend, sodiumBackend, type CipherFunctionName, type CryptoBackend,
} from '../../src/crypto/index.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const code = (fn: () => unknown): string | undefined => {
  try { fn(); return undefined; } catch (err) { return err instanceof NoiseError ? err.code : `not a NoiseError: ${String(err)}`; }
};
const EMPTY = new Uint8Array(0);

t.ok(nativeBackend, 'npm ci built build/Release/aead.node (native/aead.c)');
t.ok(sodiumBackend, 'sodium-native is installed (an optional dependency, present wherever npm ci ran)');
t.equal(getBackend().name, 'native', 'the default backend is the native addon when it is built');
t.equal(getBackend('sodium').cipher('AESGCM'), nodeBackend.cipher('AESGCM'), 'sodium\'s AES-GCM stays OpenSSL\'s (sodium-native has none)');

const SEALING: Array<[CryptoBackend, CipherFunctionName[], number]> = [
  [nativeBackend!, ['ChaChaPoly', 'AESGCM'], 200],
  [sodiumBackend!, ['ChaChaPoly'], 300],
];

for (const [backend, ciphers, runs] of SEALING) {
  t.test(`${backend.name}, node:crypto and noble agree on every ciphertext, tag and plaintext`, async (t) => {
    const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
    for (const c of ciphers) {
      t.doesNotThrow(() => fc.assert(fc.property(key, fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 5000 }), (k, n, ad, pt) => {
        const f = backend.cipher(c);
        const [a1, a2] = f.encrypt(k, n, ad, pt);
        const [b1, b2] = nodeBackend.cipher(c).encrypt(k, n, ad, pt);
        const [c1, c2] = nobleBackend.cipher(c).encrypt(k, n, ad, pt);
        if (hex(a1) !== hex(b1) || hex(a2) !== hex(b2) || hex(a1) !== hex(c1) || hex(a2) !== hex(c2)) return false;
        const sealed = Buffer.alloc(pt.length + 16, 0xee);
        f.seal!(k, n, ad, pt, sealed);
        if (hex(sealed) !== hex(b1) + hex(b2)) return false;
        // From one contiguous buffer (a frame) and from two separate ones.
        if (hex(f.decrypt(k, n, ad, sealed.subarray(0, pt.length), sealed.subarray(pt.length))) !== hex(pt)) return false;
        return hex(f.decrypt(k, n, ad, Uint8Array.from(b1), Uint8Array.from(b2))) === hex(pt);
      }), { numRuns: runs }), `${c}: ${runs} random cases agree`);
    }
  });

  t.test(`${backend.name}: tampering fails as DECRYPT_FAILED with the nonce unchanged; bad arguments are refused`, async (t) => {
    for (const c of ciphers) {
      const k = Buffer.alloc(32, 7);
      const tx = new CipherState(backend.cipher(c), k);
      const rx = new CipherState(backend.cipher(c), k);
      const frame = Buffer.alloc(5 + 16);
      tx.encryptWithAdInto(EMPTY, Buffer.from('hello'), frame);
      for (const i of [0, 4, 5, 20]) {
        const bad = Buffer.from(frame); bad[i] ^= 1;
        t.equal(code(() => rx.decryptWithAd(EMPTY, bad)), 'DECRYPT_FAILED', `${c}: byte ${i} flipped`);
      }
      t.equal(code(() => rx.decryptWithAd(Buffer.from('ad'), frame)), 'DECRYPT_FAILED', `${c}: other associated data`);
      t.equal(rx.nonce, 0n);
      t.equal(Buffer.from(rx.decryptWithAd(EMPTY, frame)).toString(), 'hello');
      t.equal(rx.nonce, 1n);
      t.equal(code(() => tx.encryptWithAdInto(EMPTY, Buffer.from('x'), Buffer.alloc(16))), 'BAD_STATE', `${c}: a wrong-sized frame is refused`);
    }
  });
}

t.test('native: a key context follows its key: rekeyed states stay in step with node:crypto', async (t) => {
  for (const c of ['ChaChaPoly', 'AESGCM'] as const) {
    const k = Buffer.alloc(32, 9);
    const a = new CipherState(nativeBackend!.cipher(c), k);
    const b = new CipherState(nodeBackend.cipher(c), k);
    const rx = new CipherState(nativeBackend!.cipher(c), k);
    for (let i = 0; i < 5; i++) {
      const pt = Buffer.from(`message ${i}`);
      const ca = a.encryptWithAd(EMPTY, pt);
      t.equal(hex(ca), hex(b.encryptWithAd(EMPTY, pt)), `${c} message ${i}`);
      t.equal(Buffer.from(rx.decryptWithAd(EMPTY, ca)).toString(), `message ${i}`);
      a.rekey(); b.rekey(); rx.rekey();
    }
  }
});

t.test('native: the addon refuses wrong sizes itself (no overflow)', async (t) => {
  for (const c of ['ChaChaPoly', 'AESGCM'] as const) {
    const f = nativeBackend!.cipher(c);
    t.throws(() => f.seal!(Buffer.alloc(32, 7), 0n, EMPTY, Buffer.from('x'), Buffer.alloc(16)), RangeError, `${c}: a wrong-sized output throws`);
    t.throws(() => f.encrypt(Buffer.alloc(31), 0n, EMPTY, Buffer.from('x')), RangeError, `${c}: a short key throws`);
  }
});

t.test('RELAY_CRYPTO_BACKEND picks the default: sodium, then node (OpenSSL alone)', async (t) => {
  const script = 'const c = await import(process.argv[1]); console.log(c.getBackend().name, c.nativeBackend === null, c.sodiumBackend === null);';
  for (const [env, want] of [['sodium', 'sodium true false'], ['node', 'node true true']]) {
    const r = spawnSync(process.execPath, ['--import=tsx', '--input-type=module', '-e', script, new URL('../../src/crypto/index.ts', import.meta.url).href], {
      env: { ...process.env, RELAY_CRYPTO_BACKEND: env }, encoding: 'utf8',
    });
    t.equal(r.stdout.trim(), want, r.stderr);
  }
});
