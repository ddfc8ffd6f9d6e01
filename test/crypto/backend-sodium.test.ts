// libsodium's ChaCha20-Poly1305 (the default when sodium-native is installed and the native addon
// is not built) against OpenSSL's
// and @noble's on random inputs, sealing into a caller's buffer included; and the fallback.
import t from 'tap';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { CipherState, NoiseError, getBackend, nobleBackend, nodeBackend, sodiumBackend } from '../../src/crypto/index.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const code = (fn: () => unknown): string | undefined => {
  try { fn(); return undefined; } catch (err) { return err instanceof NoiseError ? err.code : `not a NoiseError: ${String(err)}`; }
};

t.ok(sodiumBackend, 'sodium-native is installed (an optional dependency, present wherever npm ci ran)');
const sodium = sodiumBackend!;

t.equal(getBackend('sodium').cipher('AESGCM'), nodeBackend.cipher('AESGCM'), 'AES-GCM stays OpenSSL\'s (sodium-native has none)');

t.test('sodium, OpenSSL and noble agree on every ciphertext, tag and plaintext', async (t) => {
  const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
  t.doesNotThrow(() => fc.assert(fc.property(key, fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 5000 }), (k, n, ad, pt) => {
    const s = sodium.cipher('ChaChaPoly');
    const [a1, a2] = s.encrypt(k, n, ad, pt);
    const [b1, b2] = nodeBackend.cipher('ChaChaPoly').encrypt(k, n, ad, pt);
    const [c1, c2] = nobleBackend.cipher('ChaChaPoly').encrypt(k, n, ad, pt);
    if (hex(a1) !== hex(b1) || hex(a2) !== hex(b2) || hex(a1) !== hex(c1) || hex(a2) !== hex(c2)) return false;
    const sealed = Buffer.alloc(pt.length + 16, 0xee);
    s.seal!(k, n, ad, pt, sealed);
    if (hex(sealed) !== hex(b1) + hex(b2)) return false;
    // Decrypt from one contiguous buffer (a frame) and from two separate ones.
    if (hex(s.decrypt(k, n, ad, sealed.subarray(0, pt.length), sealed.subarray(pt.length))) !== hex(pt)) return false;
    return hex(s.decrypt(k, n, ad, Uint8Array.from(b1), Uint8Array.from(b2))) === hex(pt);
  }), { numRuns: 300 }), '300 random cases agree');
});

t.test('a tampered message fails as DECRYPT_FAILED and leaves the nonce where it was', async (t) => {
  const k = Buffer.alloc(32, 7);
  const tx = new CipherState(sodium.cipher('ChaChaPoly'), k);
  const rx = new CipherState(sodium.cipher('ChaChaPoly'), k);
  const frame = Buffer.alloc(5 + 16);
  tx.encryptWithAdInto(new Uint8Array(0), Buffer.from('hello'), frame);
  for (const i of [0, 4, 5, 20]) {
    const bad = Buffer.from(frame); bad[i] ^= 1;
    t.equal(code(() => rx.decryptWithAd(new Uint8Array(0), bad)), 'DECRYPT_FAILED', `byte ${i} flipped`);
  }
  t.equal(rx.nonce, 0n);
  t.equal(Buffer.from(rx.decryptWithAd(new Uint8Array(0), frame)).toString(), 'hello');
  t.equal(rx.nonce, 1n);
  t.equal(code(() => tx.encryptWithAdInto(new Uint8Array(0), Buffer.from('x'), Buffer.alloc(16))), 'BAD_STATE', 'a wrong-sized output is refused');
});

t.test('RELAY_CRYPTO_BACKEND=node falls back to OpenSSL alone', async (t) => {
  const code = "const c = await import(process.argv[1]); console.log(c.getBackend().name, c.sodiumBackend === null);";
  const r = spawnSync(process.execPath, ['--import=tsx', '--input-type=module', '-e', code, new URL('../../src/crypto/index.ts', import.meta.url).href], {
    env: { ...process.env, RELAY_CRYPTO_BACKEND: 'node' }, encoding: 'utf8',
  });
  t.equal(r.stdout.trim(), 'node true', r.stderr);
});
