import { TAG_LEN } from '../crypto/backend.js';
import type { CipherState } from '../crypto/cipher-state.js';
import { NoiseError } from '../crypto/errors.js';
import { MAX_NOISE_MESSAGE } from '../crypto/handshake-state.js';
import { TokenBucket } from '../net/index.js';

/** Largest plaintext of one transport message: 65535 − 16. */
export const MAX_PLAINTEXT = MAX_NOISE_MESSAGE - TAG_LEN;

const DEFAULT_REKEY_MESSAGES = 2 ** 20;
const DEFAULT_REKEY_MS = 120_000;
/**
 * Rekeys a peer may signal: a burst, then one a second. Each costs a key derivation, and an
 * honest peer rekeys every 2^20 messages or 120 s: markers beyond this are a flood, not a policy.
 */
const PEER_REKEY_BURST = 64;
const PEER_REKEYS_PER_SECOND = 1;
const EMPTY = new Uint8Array(0);

/**
 * When the sending direction rekeys (Noise §11.3 leaves the policy to the application). The peer
 * follows at most PEER_REKEY_BURST rekeys at once and PEER_REKEYS_PER_SECOND after that, so a
 * policy that rekeys more often than once a second for long ends the channel at the peer.
 */
export interface RekeyPolicy {
  /** Rekey the sending direction after this many messages under one key. Default 2^20. */
  rekeyAfterMessages?: number;
  /** Rekey the sending direction when its key is this old, checked at the next send. Default 120 000 ms. */
  rekeyAfterMs?: number;
}

/** Where encrypted transport messages go, in order (a socket, or a test's list). */
export interface FrameSink {
  /**
   * Takes one transport message, `ciphertext || tag`, in two parts so that neither is copied.
   * Returns false when the sink wants no more for now (backpressure); the state passes it on.
   */
  writeFrame(ciphertext: Uint8Array, tag: Uint8Array): boolean;
  /**
   * Takes one whole frame, the 2-byte length then `ciphertext || tag` (docs/protocol.md
   * "Framing"), in one buffer: one socket write, no gathering. Optional.
   */
  writeSealed?(frame: Buffer): boolean;
}

/**
 * Below this a message is framed in one buffer even when the cipher cannot encrypt into it (a
 * copy of a few KiB costs less than a gathered write of three parts); a cipher that seals in
 * place frames every message so.
 */
const COPY_INTO_FRAME_MAX = 4096;

/**
 * The transport phase of one session, without I/O: the two CipherStates from Split (Noise §5.2),
 * the rekey policy and its in-band marker (an empty message: "my next message is under the
 * rekeyed key", Noise §11.3), and nonce exhaustion (Noise §5.1). A refused argument leaves the
 * state as it was; any other failure ends it, and every later call throws the error that did.
 */
export class TransportState {
  private readonly rekeyAfterMessages: number;
  private readonly rekeyAfterMs: number;
  private sentUnderKey = 0;
  private sendKeyAt: number;
  private sent = 0;
  private received = 0;
  /** A message came under the current receiving key: a marker right after a marker is refused. */
  private receivedUnderKey = true;
  private readonly peerRekeys: TokenBucket;
  private ended: Error | undefined;

  /**
   * `send` and `recv` are this side's CipherStates from Split. `now` is the clock the time bound
   * is measured with (milliseconds).
   */
  constructor(
    private readonly send: CipherState,
    private readonly recv: CipherState,
    policy: RekeyPolicy = {},
    private readonly now: () => number = Date.now,
  ) {
    this.rekeyAfterMessages = policy.rekeyAfterMessages ?? DEFAULT_REKEY_MESSAGES;
    this.rekeyAfterMs = policy.rekeyAfterMs ?? DEFAULT_REKEY_MS;
    if (!(this.rekeyAfterMessages >= 1)) throw new NoiseError('BAD_STATE', 'rekeyAfterMessages must be at least 1');
    this.sendKeyAt = now();
    this.peerRekeys = new TokenBucket(PEER_REKEYS_PER_SECOND, PEER_REKEY_BURST, now);
  }

  /** Rekeys this side has signalled, and the peer's it has followed. */
  get rekeysSent(): number { return this.sent; }
  get rekeysReceived(): number { return this.received; }

  /** What ended the state, once something has. */
  get error(): Error | undefined { return this.ended; }

  /**
   * Encrypts one message into `sink`, preceded by a rekey marker when the policy calls for one.
   * Returns what the sink returned for the message. Throws NoiseError BAD_MESSAGE (empty: the
   * marker is reserved) or MESSAGE_TOO_LARGE without changing anything; NONCE_EXHAUSTED, or
   * whatever the sink throws, ends the state.
   */
  encrypt(plaintext: Uint8Array, sink: FrameSink): boolean {
    if (plaintext.length === 0) throw new NoiseError('BAD_MESSAGE', 'empty messages are reserved (rekey marker)');
    if (plaintext.length > MAX_PLAINTEXT) throw new NoiseError('MESSAGE_TOO_LARGE', `message of ${plaintext.length} bytes exceeds ${MAX_PLAINTEXT}`);
    if (this.ended !== undefined) throw this.ended;
    try {
      if (this.sentUnderKey >= this.rekeyAfterMessages || this.now() - this.sendKeyAt >= this.rekeyAfterMs) this.rekeySend(sink);
      this.sentUnderKey++;
      if (sink.writeSealed !== undefined && (plaintext.length <= COPY_INTO_FRAME_MAX || this.send.sealsInPlace)) {
        const frame = Buffer.allocUnsafe(2 + plaintext.length + TAG_LEN);
        frame.writeUInt16BE(plaintext.length + TAG_LEN, 0);
        this.send.encryptWithAdInto(EMPTY, plaintext, frame.subarray(2));
        return sink.writeSealed(frame);
      }
      const [ct, tag] = this.send.encryptWithAdParts(EMPTY, plaintext);
      return sink.writeFrame(ct, tag);
    } catch (err) {
      throw this.end(err as Error);
    }
  }

  /** Noise §11.3: the marker goes under the old key, then the key changes; the nonce runs on. */
  private rekeySend(sink: FrameSink): void {
    const [ct, tag] = this.send.encryptWithAdParts(EMPTY, EMPTY);
    sink.writeFrame(ct, tag);
    this.send.rekey();
    this.sent++;
    this.sentUnderKey = 0;
    this.sendKeyAt = this.now();
  }

  /**
   * Decrypts one transport message (`ciphertext || tag`). Returns the plaintext, or null for the
   * peer's rekey marker (followed: the receiving key is rekeyed). Throws NoiseError BAD_MESSAGE,
   * DECRYPT_FAILED or NONCE_EXHAUSTED, and the state is over.
   */
  decrypt(frame: Uint8Array): Buffer | null {
    if (this.ended !== undefined) throw this.ended;
    if (frame.length < TAG_LEN) throw this.end(new NoiseError('BAD_MESSAGE', 'transport message shorter than its tag'));
    let plaintext: Uint8Array;
    try {
      const split = frame.length - TAG_LEN;
      plaintext = this.recv.decryptWithAdParts(EMPTY, frame.subarray(0, split), frame.subarray(split));
    } catch (err) {
      throw this.end(err instanceof NoiseError ? err : new NoiseError('DECRYPT_FAILED', 'message authentication failed'));
    }
    if (plaintext.length === 0) {
      // Our markers always precede a message; a flood of them is an attack on our CPU.
      if (!this.receivedUnderKey) throw this.end(new NoiseError('BAD_MESSAGE', 'two rekey markers with no message between'));
      if (!this.peerRekeys.take()) throw this.end(new NoiseError('BAD_MESSAGE', `peer rekeys more often than ${PEER_REKEY_BURST} at once or ${PEER_REKEYS_PER_SECOND} a second`));
      this.recv.rekey();
      this.received++;
      this.receivedUnderKey = false;
      return null;
    }
    this.receivedUnderKey = true;
    return plaintext as Buffer;
  }

  private end(err: Error): Error {
    this.ended ??= err;
    return err;
  }

  /** For tests of nonce exhaustion only (Noise §5.1 SetNonce); both peers must agree on the values. */
  setNoncesForTestingOnly(send: bigint | null, receive: bigint | null): void {
    if (send !== null) this.send.setNonce(send);
    if (receive !== null) this.recv.setNonce(receive);
  }
}
