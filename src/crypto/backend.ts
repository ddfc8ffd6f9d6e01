/**
 * The crypto functions Noise needs (Noise §4), behind one interface so that the `node:crypto`
 * backend (fast, OpenSSL) and the `@noble/*` backend (portable reference) are interchangeable
 * and can be checked against each other.
 */
export type DhName = '25519';
export type CipherFunctionName = 'ChaChaPoly' | 'AESGCM';
export type HashFunctionName = 'BLAKE2s' | 'SHA256' | 'BLAKE2b' | 'SHA512';
export type BackendName = 'node' | 'noble' | 'sodium' | 'native';

/** Noise §4.1; DHLEN = 32 for 25519. */
export interface DhFunctions {
  readonly dhLen: number;
  generateKeyPair(): { privateKey: Uint8Array; publicKey: Uint8Array };
  publicKey(privateKey: Uint8Array): Uint8Array;
  /** Throws NoiseError('INVALID_PUBLIC_KEY') when the result is all zeros (low-order point). */
  dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
}

/** Noise §4.2, with the tag kept apart so that a sender can write [ciphertext, tag] uncopied. */
export interface CipherFunctions {
  readonly name: CipherFunctionName;
  /** Returns [ciphertext, 16-byte tag]. `n` is the 64-bit nonce. */
  encrypt(k: Uint8Array, n: bigint, ad: Uint8Array, plaintext: Uint8Array): [Uint8Array, Uint8Array];
  /**
   * Encrypts straight into `out` (plaintext length + 16 bytes: ciphertext || tag), so that a
   * sender can build a whole frame in memory it allocated once. Optional: without it, CipherState
   * copies what `encrypt` returns.
   */
  seal?: Seal;
  /** Throws NoiseError('DECRYPT_FAILED') when authentication fails. */
  decrypt(k: Uint8Array, n: bigint, ad: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array): Uint8Array;
}

/** Noise §4.3. */
export interface HashFunctions {
  readonly name: HashFunctionName;
  readonly hashLen: number;
  readonly blockLen: number;
  hash(...data: Uint8Array[]): Uint8Array;
  /** HMAC per RFC 2104 with this hash and its BLOCKLEN. */
  hmac(key: Uint8Array, ...data: Uint8Array[]): Uint8Array;
}

/** CipherFunctions.seal's signature. */
type Seal = (k: Uint8Array, n: bigint, ad: Uint8Array, plaintext: Uint8Array, out: Uint8Array) => void;

/** ENCRYPT for a backend that seals: one buffer, handed back as its ciphertext and tag. */
export function encryptBySealing(seal: Seal, k: Uint8Array, n: bigint, ad: Uint8Array, plaintext: Uint8Array): [Uint8Array, Uint8Array] {
  const out = Buffer.allocUnsafe(plaintext.length + TAG_LEN);
  seal(k, n, ad, plaintext, out);
  return [out.subarray(0, plaintext.length), out.subarray(plaintext.length)];
}

export interface CryptoBackend {
  readonly name: BackendName;
  dh(name: DhName): DhFunctions;
  cipher(name: CipherFunctionName): CipherFunctions;
  hash(name: HashFunctionName): HashFunctions;
}

export const TAG_LEN = 16;
/** Noise §5.1: nonce 2^64−1 is reserved (it is REKEY's nonce). */
export const MAX_NONCE = 0xffffffffffffffffn;

/**
 * Noise §12.3: 32 bits of zeros, then the nonce little-endian. Written into `iv` when given (its
 * first four bytes stay zero), so that a backend whose calls are synchronous reuses one buffer.
 */
export function chachaNonce(n: bigint, iv: Buffer = Buffer.alloc(12)): Buffer {
  iv.writeBigUInt64LE(n, 4);
  return iv;
}

/** Noise §12.4: 32 bits of zeros, then the nonce big-endian; into `iv` as chachaNonce. */
export function aesGcmNonce(n: bigint, iv: Buffer = Buffer.alloc(12)): Buffer {
  iv.writeBigUInt64BE(n, 4);
  return iv;
}

/**
 * `ciphertext || tag` as one array, for a library that takes them joined: a view when they are
 * adjacent in one buffer (a frame's two halves always are), a copy otherwise.
 */
export function sealedView(ciphertext: Uint8Array, tag: Uint8Array): Uint8Array {
  if (ciphertext.buffer === tag.buffer && ciphertext.byteOffset + ciphertext.length === tag.byteOffset) {
    return new Uint8Array(ciphertext.buffer, ciphertext.byteOffset, ciphertext.length + tag.length);
  }
  return Buffer.concat([ciphertext, tag]);
}

export function isAllZero(b: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < b.length; i++) acc |= b[i];
  return acc === 0;
}
