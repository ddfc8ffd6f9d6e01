import {
  createCipheriv, createDecipheriv, createHash, createHmac, createPrivateKey, createPublicKey,
  diffieHellman, generateKeyPairSync, type KeyObject,
} from 'node:crypto';
import {
  aesGcmNonce, chachaNonce, isAllZero, TAG_LEN,
  type CipherFunctionName, type CipherFunctions, type CryptoBackend, type DhFunctions, type HashFunctionName, type HashFunctions,
} from './backend.js';
import { NoiseError } from './errors.js';

// Raw keys enter OpenSSL as JWK: a PKCS#8 DER import is far slower (docs/performance.md "Noise transport").
// Node insists on `x` in a private JWK, but OpenSSL derives the public key from `d` and ignores
// it (checked in the tests); the DH uses only `d`.
const JWK_X_PLACEHOLDER = 'A'.repeat(43);
// A private key is imported once per array: a HandshakeState uses its s and e several times.
const privateKeys = new WeakMap<Uint8Array, KeyObject>();

function privateKeyObject(raw: Uint8Array): KeyObject {
  let key = privateKeys.get(raw);
  if (key) return key;
  if (raw.length !== 32) throw new NoiseError('BAD_KEY', 'X25519 private key must be 32 bytes');
  key = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64url(raw), x: JWK_X_PLACEHOLDER }, format: 'jwk' });
  privateKeys.set(raw, key);
  return key;
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new NoiseError('BAD_KEY', 'X25519 public key must be 32 bytes');
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(raw) }, format: 'jwk' });
}

function b64url(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');
}

function rawPublic(key: KeyObject): Buffer {
  return Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url');
}

const x25519: DhFunctions = {
  dhLen: 32,
  generateKeyPair() {
    const { privateKey, publicKey } = generateKeyPairSync('x25519');
    const raw = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
    privateKeys.set(raw, privateKey);
    return { privateKey: raw, publicKey: rawPublic(publicKey) };
  },
  publicKey(priv) {
    return rawPublic(createPublicKey(privateKeyObject(priv)));
  },
  dh(priv, pub) {
    let out: Buffer;
    try {
      out = diffieHellman({ privateKey: privateKeyObject(priv), publicKey: publicKeyObject(pub) });
    } catch (err) {
      if (err instanceof NoiseError) throw err;
      // OpenSSL refuses an all-zero shared secret itself (low-order point).
      throw new NoiseError('INVALID_PUBLIC_KEY', 'invalid X25519 public key');
    }
    // Noise §12.1 allows either; we reject low-order points, as WireGuard does.
    if (isAllZero(out)) throw new NoiseError('INVALID_PUBLIC_KEY', 'invalid X25519 public key (low-order point)');
    return out;
  },
};

function aead(name: CipherFunctionName): CipherFunctions {
  const algo = name === 'ChaChaPoly' ? 'chacha20-poly1305' : 'aes-256-gcm';
  const nonce = name === 'ChaChaPoly' ? chachaNonce : aesGcmNonce;
  return {
    name,
    encrypt(k, n, ad, plaintext) {
      const c = createCipheriv(algo as 'chacha20-poly1305', k, nonce(n), { authTagLength: TAG_LEN });
      if (ad.length > 0) c.setAAD(ad, { plaintextLength: plaintext.length });
      const ct = plaintext.length > 0 ? c.update(plaintext) : Buffer.alloc(0);
      c.final();
      return [ct, c.getAuthTag()];
    },
    decrypt(k, n, ad, ciphertext, tag) {
      const d = createDecipheriv(algo as 'chacha20-poly1305', k, nonce(n), { authTagLength: TAG_LEN });
      d.setAuthTag(tag);
      if (ad.length > 0) d.setAAD(ad, { plaintextLength: ciphertext.length });
      const pt = ciphertext.length > 0 ? d.update(ciphertext) : Buffer.alloc(0);
      try {
        d.final();
      } catch {
        throw new NoiseError('DECRYPT_FAILED', 'message authentication failed');
      }
      return pt;
    },
  };
}

const NODE_HASH: Record<HashFunctionName, [string, number, number]> = {
  BLAKE2s: ['blake2s256', 32, 64],
  SHA256: ['sha256', 32, 64],
  BLAKE2b: ['blake2b512', 64, 128],
  SHA512: ['sha512', 64, 128],
};

function hashFunctions(name: HashFunctionName): HashFunctions {
  const [algo, hashLen, blockLen] = NODE_HASH[name];
  return {
    name, hashLen, blockLen,
    hash(...data) {
      const h = createHash(algo);
      for (const d of data) h.update(d);
      return h.digest();
    },
    // OpenSSL's HMAC uses the digest's own block size (64 for BLAKE2s, 128 for BLAKE2b), as
    // RFC 2104 and Noise §4.3 require; checked against @noble/hashes' hmac in the tests.
    hmac(key, ...data) {
      const h = createHmac(algo, key);
      for (const d of data) h.update(d);
      return h.digest();
    },
  };
}

const ciphers = { ChaChaPoly: aead('ChaChaPoly'), AESGCM: aead('AESGCM') };
const hashes = { BLAKE2s: hashFunctions('BLAKE2s'), SHA256: hashFunctions('SHA256'), BLAKE2b: hashFunctions('BLAKE2b'), SHA512: hashFunctions('SHA512') };

/** OpenSSL through `node:crypto`: the default, and the only one on the channel's hot path. */
export const nodeBackend: CryptoBackend = {
  name: 'node',
  dh: () => x25519,
  cipher: (name) => ciphers[name],
  hash: (name) => hashes[name],
};
