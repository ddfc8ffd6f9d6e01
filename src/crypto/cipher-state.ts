import { MAX_NONCE, TAG_LEN, type CipherFunctions } from './backend.js';
import { NoiseError } from './errors.js';

const EMPTY = new Uint8Array(0);
const ZEROS_32 = new Uint8Array(32);

/**
 * Noise §5.1 CipherState: a key `k` (or none) and a 64-bit nonce `n`. The nonce advances only
 * when an operation succeeds, so a failed decrypt can be retried or reported without desync.
 */
export class CipherState {
  private k: Uint8Array | null = null;
  private n = 0n;

  constructor(readonly cipher: CipherFunctions, key?: Uint8Array) {
    if (key) this.initializeKey(key);
  }

  /** InitializeKey(key): sets k and resets n to 0. */
  initializeKey(key: Uint8Array | null): void {
    this.k = key === null ? null : Uint8Array.from(key);
    this.n = 0n;
  }

  hasKey(): boolean { return this.k !== null; }

  /** SetNonce(nonce). */
  setNonce(nonce: bigint): void {
    if (nonce < 0n || nonce > MAX_NONCE) throw new NoiseError('BAD_STATE', 'nonce out of range');
    this.n = nonce;
  }

  /** The nonce of the next operation (for tests). */
  get nonce(): bigint { return this.n; }

  /** EncryptWithAd(ad, plaintext): ciphertext || tag; plaintext itself when there is no key yet. */
  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (this.k === null) return plaintext;
    const [ct, tag] = this.encryptWithAdParts(ad, plaintext);
    const out = new Uint8Array(ct.length + TAG_LEN);
    out.set(ct); out.set(tag, ct.length);
    return out;
  }

  /** EncryptWithAd with the ciphertext and tag apart, so a sender can write both uncopied. Requires a key. */
  encryptWithAdParts(ad: Uint8Array, plaintext: Uint8Array): [Uint8Array, Uint8Array] {
    if (this.k === null) throw new NoiseError('BAD_STATE', 'cipher state has no key');
    // Noise §5.1: 2^64−1 is reserved; reaching it ends the session.
    if (this.n === MAX_NONCE) throw new NoiseError('NONCE_EXHAUSTED', 'nonce exhausted: the session must end');
    const parts = this.cipher.encrypt(this.k, this.n, ad, plaintext);
    this.n++;
    return parts;
  }

  /**
   * EncryptWithAd into `out` (plaintext length + 16 bytes), for a sender that frames the message
   * in one buffer. Requires a key. Without a copy when the cipher can seal in place.
   */
  encryptWithAdInto(ad: Uint8Array, plaintext: Uint8Array, out: Uint8Array): void {
    if (this.k === null) throw new NoiseError('BAD_STATE', 'cipher state has no key');
    if (this.n === MAX_NONCE) throw new NoiseError('NONCE_EXHAUSTED', 'nonce exhausted: the session must end');
    if (out.length !== plaintext.length + TAG_LEN) throw new NoiseError('BAD_STATE', 'output must be the plaintext length plus the tag');
    if (this.cipher.seal) {
      this.cipher.seal(this.k, this.n, ad, plaintext, out);
    } else {
      const [ct, tag] = this.cipher.encrypt(this.k, this.n, ad, plaintext);
      out.set(ct); out.set(tag, ct.length);
    }
    this.n++;
  }

  /** Whether `encryptWithAdInto` writes without an intermediate copy. */
  get sealsInPlace(): boolean { return this.cipher.seal !== undefined; }

  /** DecryptWithAd(ad, ciphertext): throws NoiseError('DECRYPT_FAILED') and leaves n unchanged on failure. */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (this.k === null) return ciphertext;
    if (ciphertext.length < TAG_LEN) throw new NoiseError('BAD_MESSAGE', 'ciphertext shorter than its tag');
    const split = ciphertext.length - TAG_LEN;
    return this.decryptWithAdParts(ad, ciphertext.subarray(0, split), ciphertext.subarray(split));
  }

  decryptWithAdParts(ad: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array): Uint8Array {
    if (this.k === null) throw new NoiseError('BAD_STATE', 'cipher state has no key');
    if (this.n === MAX_NONCE) throw new NoiseError('NONCE_EXHAUSTED', 'nonce exhausted: the session must end');
    const pt = this.cipher.decrypt(this.k, this.n, ad, ciphertext, tag);
    this.n++;
    return pt;
  }

  /** Noise §4.2 REKEY default: k = first 32 bytes of ENCRYPT(k, 2^64−1, zerolen, zeros). n is kept (§11.3). */
  rekey(): void {
    if (this.k === null) throw new NoiseError('BAD_STATE', 'cipher state has no key');
    const [ct] = this.cipher.encrypt(this.k, MAX_NONCE, EMPTY, ZEROS_32);
    this.k = Uint8Array.from(ct.subarray(0, 32));
  }
}
