import { createRequire } from 'node:module';
import { chachaNonce, encryptBySealing, sealedView, type CipherFunctions, type CryptoBackend } from './backend.js';
import { nodeBackend } from './backend-node.js';
import { NoiseError } from './errors.js';

/** The two libsodium calls we use (sodium-native's binding, which throws on a failed decrypt). */
interface Sodium {
  crypto_aead_chacha20poly1305_ietf_encrypt(c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array): number;
  crypto_aead_chacha20poly1305_ietf_decrypt(m: Uint8Array, nsec: null, c: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array): number;
}

/**
 * libsodium through sodium-native, an optional dependency with prebuilt binaries: absent on a
 * platform without one, and then the node backend is used instead (backend.ts `defaultBackend`).
 */
function load(): Sodium | null {
  if (process.env.RELAY_CRYPTO_BACKEND === 'node') return null;
  try {
    return createRequire(import.meta.url)('sodium-native') as Sodium;
  } catch {
    return null;
  }
}

const sodium = load();

/**
 * ChaCha20-Poly1305 (Noise §12.3's nonce) that encrypts into memory the caller hands it, with no
 * cipher object per message: createCipheriv's setup costs more than the cipher on a small
 * message (docs/performance.md "Small messages").
 */
function chachaPoly(s: Sodium): CipherFunctions {
  const iv = Buffer.alloc(12); // reused: every call is synchronous
  const setNonce = (n: bigint) => chachaNonce(n, iv);
  const adOrNull = (ad: Uint8Array) => (ad.length > 0 ? ad : null);
  const seal = (k: Uint8Array, n: bigint, ad: Uint8Array, plaintext: Uint8Array, out: Uint8Array): void => {
    s.crypto_aead_chacha20poly1305_ietf_encrypt(out, plaintext, adOrNull(ad), null, setNonce(n), k);
  };
  return {
    name: 'ChaChaPoly',
    encrypt: (k, n, ad, plaintext) => encryptBySealing(seal, k, n, ad, plaintext),
    seal,
    decrypt(k, n, ad, ciphertext, tag) {
      const joined = sealedView(ciphertext, tag); // libsodium takes them as one array
      const out = Buffer.allocUnsafe(ciphertext.length);
      try {
        s.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, joined, adOrNull(ad), setNonce(n), k);
      } catch {
        throw new NoiseError('DECRYPT_FAILED', 'message authentication failed');
      }
      return out;
    },
  };
}

/**
 * libsodium's ChaCha20-Poly1305 on the channel's hot path; everything else (X25519, the hashes,
 * AES-GCM, which sodium-native's build lacks) is OpenSSL's, as in the node backend. Null when
 * sodium-native is not installed, or RELAY_CRYPTO_BACKEND=node asks for OpenSSL alone.
 */
export const sodiumBackend: CryptoBackend | null = sodium === null ? null : (() => {
  const chacha = chachaPoly(sodium);
  return {
    name: 'sodium',
    dh: (name) => nodeBackend.dh(name),
    cipher: (name) => (name === 'ChaChaPoly' ? chacha : nodeBackend.cipher(name)),
    hash: (name) => nodeBackend.hash(name),
  };
})();
