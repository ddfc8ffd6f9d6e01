import { x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { gcm } from '@noble/ciphers/aes.js';
import { blake2b, blake2s } from '@noble/hashes/blake2.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { hmac } from '@noble/hashes/hmac.js';
import {
  aesGcmNonce, chachaNonce, isAllZero, TAG_LEN,
  type CipherFunctionName, type CipherFunctions, type CryptoBackend, type DhFunctions, type HashFunctionName, type HashFunctions,
} from './backend.js';
import { NoiseError } from './errors.js';

function check32(k: Uint8Array, what: string): void {
  if (k.length !== 32) throw new NoiseError('BAD_KEY', `X25519 ${what} key must be 32 bytes`);
}

const x25519: DhFunctions = {
  dhLen: 32,
  generateKeyPair() {
    const privateKey = nobleX25519.utils.randomSecretKey();
    return { privateKey, publicKey: nobleX25519.getPublicKey(privateKey) };
  },
  publicKey(priv) {
    check32(priv, 'private');
    return nobleX25519.getPublicKey(priv);
  },
  dh(priv, pub) {
    check32(priv, 'private'); check32(pub, 'public');
    let out: Uint8Array;
    try {
      out = nobleX25519.getSharedSecret(priv, pub);
    } catch {
      throw new NoiseError('INVALID_PUBLIC_KEY', 'invalid X25519 public key');
    }
    if (isAllZero(out)) throw new NoiseError('INVALID_PUBLIC_KEY', 'invalid X25519 public key (low-order point)');
    return out;
  },
};

function aead(name: CipherFunctionName): CipherFunctions {
  const make = name === 'ChaChaPoly'
    ? (k: Uint8Array, n: bigint, ad: Uint8Array) => chacha20poly1305(k, chachaNonce(n), ad)
    : (k: Uint8Array, n: bigint, ad: Uint8Array) => gcm(k, aesGcmNonce(n), ad);
  return {
    name,
    encrypt(k, n, ad, plaintext) {
      const out = make(k, n, ad).encrypt(plaintext);
      const split = out.length - TAG_LEN;
      return [out.subarray(0, split), out.subarray(split)];
    },
    decrypt(k, n, ad, ciphertext, tag) {
      const joined = new Uint8Array(ciphertext.length + TAG_LEN);
      joined.set(ciphertext); joined.set(tag, ciphertext.length);
      try {
        return make(k, n, ad).decrypt(joined);
      } catch {
        throw new NoiseError('DECRYPT_FAILED', 'message authentication failed');
      }
    },
  };
}

type NobleHash = typeof sha256 | typeof blake2s;
function hashFunctions(name: HashFunctionName, fn: NobleHash, hashLen: number, blockLen: number): HashFunctions {
  return {
    name, hashLen, blockLen,
    hash(...data) {
      const h = fn.create();
      for (const d of data) h.update(d);
      return h.digest();
    },
    hmac(key, ...data) {
      const h = hmac.create(fn, key);
      for (const d of data) h.update(d);
      return h.digest();
    },
  };
}

const ciphers = { ChaChaPoly: aead('ChaChaPoly'), AESGCM: aead('AESGCM') };
const hashes = {
  BLAKE2s: hashFunctions('BLAKE2s', blake2s, 32, 64),
  SHA256: hashFunctions('SHA256', sha256, 32, 64),
  BLAKE2b: hashFunctions('BLAKE2b', blake2b as unknown as NobleHash, 64, 128),
  SHA512: hashFunctions('SHA512', sha512 as unknown as NobleHash, 64, 128),
};

/** Pure JavaScript (`@noble/*`): portable, audited, independent of OpenSSL; the reference. */
export const nobleBackend: CryptoBackend = {
  name: 'noble',
  dh: () => x25519,
  cipher: (name) => ciphers[name],
  hash: (name) => hashes[name],
};
