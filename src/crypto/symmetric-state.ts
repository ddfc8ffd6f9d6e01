import type { CipherFunctions, HashFunctions } from './backend.js';
import { CipherState } from './cipher-state.js';

const EMPTY = new Uint8Array(0);

/**
 * Noise §5.2 SymmetricState: the chaining key `ck` (what all DH results are mixed into) and the
 * handshake hash `h` (a transcript of everything sent and received).
 */
export class SymmetricState {
  readonly cipherState: CipherState;
  private ck: Uint8Array;
  private h: Uint8Array;

  /** InitializeSymmetric(protocol_name). */
  constructor(protocolName: string, readonly cipher: CipherFunctions, readonly hash: HashFunctions) {
    const name = new TextEncoder().encode(protocolName);
    if (name.length <= hash.hashLen) {
      this.h = new Uint8Array(hash.hashLen);
      this.h.set(name);
    } else {
      this.h = hash.hash(name);
    }
    this.ck = this.h;
    this.cipherState = new CipherState(cipher);
  }

  /** Noise §4.3 HKDF(chaining_key, input_key_material, num_outputs). */
  private hkdf(ikm: Uint8Array, numOutputs: 2 | 3): Uint8Array[] {
    const tempKey = this.hash.hmac(this.ck, ikm);
    const out1 = this.hash.hmac(tempKey, Uint8Array.of(1));
    const out2 = this.hash.hmac(tempKey, out1, Uint8Array.of(2));
    if (numOutputs === 2) return [out1, out2];
    return [out1, out2, this.hash.hmac(tempKey, out2, Uint8Array.of(3))];
  }

  /** MixKey(input_key_material). A 64-byte hash's output is truncated to the 32-byte key. */
  mixKey(ikm: Uint8Array): void {
    const [ck, tempK] = this.hkdf(ikm, 2);
    this.ck = ck;
    this.cipherState.initializeKey(tempK.subarray(0, 32));
  }

  /** MixHash(data): h = HASH(h || data). */
  mixHash(data: Uint8Array): void {
    this.h = this.hash.hash(this.h, data);
  }

  /** MixKeyAndHash(input_key_material): for `psk` tokens (Noise §9). */
  mixKeyAndHash(ikm: Uint8Array): void {
    const [ck, tempH, tempK] = this.hkdf(ikm, 3);
    this.ck = ck;
    this.mixHash(tempH);
    this.cipherState.initializeKey(tempK.subarray(0, 32));
  }

  /** GetHandshakeHash(). */
  getHandshakeHash(): Uint8Array { return this.h; }

  /** EncryptAndHash(plaintext). */
  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const ciphertext = this.cipherState.encryptWithAd(this.h, plaintext);
    this.mixHash(ciphertext);
    return ciphertext;
  }

  /** DecryptAndHash(ciphertext). */
  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const plaintext = this.cipherState.decryptWithAd(this.h, ciphertext);
    this.mixHash(ciphertext);
    return plaintext;
  }

  /** Split(): two CipherStates, initiator→responder first. */
  split(): [CipherState, CipherState] {
    const [k1, k2] = this.hkdf(EMPTY, 2);
    return [new CipherState(this.cipher, k1.subarray(0, 32)), new CipherState(this.cipher, k2.subarray(0, 32))];
  }
}
