import { createRequire } from 'node:module';
import { aesGcmNonce, chachaNonce, encryptBySealing, sealedView, type CipherFunctionName, type CipherFunctions, type CryptoBackend } from './backend.js';
import { nodeBackend } from './backend-node.js';
import { NoiseError } from './errors.js';

/** The addon's three calls (native/aead.c); a context holds one key, for one direction. */
interface Aead {
  context(cipher: 0 | 1, key: Uint8Array, encrypt: boolean): object;
  seal(ctx: object, iv: Uint8Array, ad: Uint8Array, plaintext: Uint8Array, out: Uint8Array): void;
  open(ctx: object, iv: Uint8Array, ad: Uint8Array, sealed: Uint8Array, out: Uint8Array): boolean;
}

/**
 * The addon `npm install` builds from native/aead.c (node-gyp, against Node's own headers and
 * OpenSSL); absent where there is no compiler, or when RELAY_CRYPTO_BACKEND names another backend.
 */
function load(): Aead | null {
  const wanted = process.env.RELAY_CRYPTO_BACKEND;
  if (wanted !== undefined && wanted !== '' && wanted !== 'native') return null;
  try {
    // dist/crypto or src/crypto: the package root is two levels up either way.
    return createRequire(import.meta.url)('../../build/Release/aead.node') as Aead;
  } catch {
    return null;
  }
}

const addon = load();

interface Contexts { enc?: object; dec?: object }

/**
 * AES-256-GCM or ChaCha20-Poly1305 on the OpenSSL inside Node, with one cipher context per key
 * and direction kept for the key's life (a CipherState's key array changes only on rekey), so a
 * message costs an IV reset and the cipher itself, written straight into the caller's frame.
 * Nonces: Noise §12.3 (ChaChaPoly, little-endian) and §12.4 (AESGCM, big-endian).
 */
function aead(a: Aead, name: CipherFunctionName): CipherFunctions {
  const which = name === 'AESGCM' ? 0 : 1;
  const contexts = new WeakMap<Uint8Array, Contexts>();
  const iv = Buffer.alloc(12); // reused: every call is synchronous
  const nonce = name === 'AESGCM' ? aesGcmNonce : chachaNonce;
  const setIv = (n: bigint) => nonce(n, iv);
  const ctx = (k: Uint8Array, encrypt: boolean): object => {
    let c = contexts.get(k);
    if (c === undefined) contexts.set(k, c = {});
    if (encrypt) return c.enc ??= a.context(which, k, true);
    return c.dec ??= a.context(which, k, false);
  };
  const seal = (k: Uint8Array, n: bigint, ad: Uint8Array, plaintext: Uint8Array, out: Uint8Array): void => {
    a.seal(ctx(k, true), setIv(n), ad, plaintext, out);
  };
  return {
    name,
    encrypt: (k, n, ad, plaintext) => encryptBySealing(seal, k, n, ad, plaintext),
    seal,
    decrypt(k, n, ad, ciphertext, tag) {
      const sealed = sealedView(ciphertext, tag);
      const out = Buffer.allocUnsafe(ciphertext.length);
      if (!a.open(ctx(k, false), setIv(n), ad, sealed, out)) throw new NoiseError('DECRYPT_FAILED', 'message authentication failed');
      return out;
    },
  };
}

/**
 * Both ciphers on OpenSSL without node:crypto's per-message cipher object and output buffer;
 * X25519 and the hashes are node:crypto's. Null when the addon was not built.
 */
export const nativeBackend: CryptoBackend | null = addon === null ? null : (() => {
  const ciphers = { ChaChaPoly: aead(addon, 'ChaChaPoly'), AESGCM: aead(addon, 'AESGCM') };
  return {
    name: 'native',
    dh: (name) => nodeBackend.dh(name),
    cipher: (name) => ciphers[name],
    hash: (name) => nodeBackend.hash(name),
  };
})();
