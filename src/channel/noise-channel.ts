import type { Socket } from 'node:net';
import { TAG_LEN } from '../crypto/backend.js';
import type { CipherState } from '../crypto/cipher-state.js';
import { NoiseError } from '../crypto/errors.js';
import { MAX_NOISE_MESSAGE } from '../crypto/handshake-state.js';
import { readsIntoReusedBuffer, setBytesHandler } from '../net/reused-read-buffer.js';
import type { FrameReader } from './frame-reader.js';
import type { ChannelOptions } from './handshake.js';
import type { MessageChannel } from './message-channel.js';
import type { CipherName } from './suite.js';

const DEFAULT_REKEY_MESSAGES = 2 ** 20;
const DEFAULT_REKEY_MS = 120_000;
const EMPTY = new Uint8Array(0);

/** Largest plaintext of one transport message: 65535 − 16. */
export const MAX_PLAINTEXT = MAX_NOISE_MESSAGE - TAG_LEN;

export interface ChannelInit {
  socket: Socket;
  reader: FrameReader;
  send: CipherState;
  recv: CipherState;
  remoteStaticKey: Buffer;
  cipher: CipherName;
  handshakeHash: Buffer;
  initiator: boolean;
  options: ChannelOptions;
}

/**
 * An established Noise session over one TCP socket: length-prefixed transport messages,
 * rekeyed in-band (an empty message means "my next message is under the rekeyed key").
 * Message delivery starts on the next turn of the event loop after `connectChannel`/`accept`
 * resolves: set the hooks as soon as the promise resolves.
 */
export class NoiseChannel implements MessageChannel {
  readonly maxMessageSize = MAX_PLAINTEXT;
  /** The peer's static public key, authenticated by the handshake. */
  readonly remoteStaticKey: Buffer;
  readonly cipher: CipherName;
  /** Noise §11.2 channel binding: unique to this session. */
  readonly handshakeHash: Buffer;
  readonly socket: Socket;
  readonly initiator: boolean;
  /** Rekeys this side has signalled, and the peer's it has followed (Noise §11.3). */
  rekeysSent = 0;
  rekeysReceived = 0;

  onMessage: (message: Buffer) => void = () => {};
  onDrain: () => void = () => {};
  onClose: (error?: Error) => void = () => {};

  private readonly reader: FrameReader;
  private readonly scratch = Buffer.allocUnsafe(MAX_NOISE_MESSAGE);
  private readonly sendCs: CipherState;
  private readonly recvCs: CipherState;
  private readonly rekeyAfterMessages: number;
  private readonly rekeyAfterMs: number;
  private sentUnderKey = 0;
  private sendKeyAt = Date.now();
  private started = false;
  private userPaused = false;
  private delivering = false;
  private closed = false;
  private finished = false;
  private gotFin = false;
  private error: Error | undefined;

  /** @internal made by connectChannel and NoiseResponder.accept */
  constructor(init: ChannelInit) {
    this.socket = init.socket;
    this.reader = init.reader;
    this.sendCs = init.send;
    this.recvCs = init.recv;
    this.remoteStaticKey = init.remoteStaticKey;
    this.cipher = init.cipher;
    this.handshakeHash = init.handshakeHash;
    this.initiator = init.initiator;
    this.rekeyAfterMessages = init.options.rekeyAfterMessages ?? DEFAULT_REKEY_MESSAGES;
    this.rekeyAfterMs = init.options.rekeyAfterMs ?? DEFAULT_REKEY_MS;
    if (!(this.rekeyAfterMessages >= 1)) throw new NoiseError('BAD_STATE', 'rekeyAfterMessages must be at least 1');

    const s = this.socket;
    s.pause(); // until start(): the consumer has not set its hooks yet
    if (readsIntoReusedBuffer(s)) {
      // The view is overwritten by the next read: whatever is left of it is copied out first.
      setBytesHandler(s, (view) => { this.reader.push(view); this.deliver(); this.reader.retain(2 + MAX_NOISE_MESSAGE); });
    } else {
      s.on('data', (chunk: Buffer) => { this.reader.push(chunk); this.deliver(); });
    }
    s.on('end', () => {
      this.gotFin = true;
      // The channel has no half-open state of its own: the peer's FIN ends it (docs/protocol.md).
      if (!s.writableEnded) s.end();
    });
    s.on('error', (err) => { this.error ??= err; });
    s.on('close', () => this.finish());
    s.on('drain', () => { if (!this.closed) this.onDrain(); });
    if (s.destroyed) queueMicrotask(() => this.finish());
  }

  /** @internal Starts delivery one macrotask later, after the awaiting consumer has set its hooks. */
  start(): void {
    setImmediate(() => {
      this.started = true;
      this.deliver();
      if (!this.userPaused && !this.closed) this.socket.resume();
    });
  }

  send(message: Uint8Array): boolean {
    if (this.closed) return false;
    if (message.length === 0) throw new NoiseError('BAD_MESSAGE', 'empty messages are reserved (rekey marker)');
    if (message.length > MAX_PLAINTEXT) throw new NoiseError('MESSAGE_TOO_LARGE', `message of ${message.length} bytes exceeds ${MAX_PLAINTEXT}`);
    try {
      // Noise §11.3: rekey is the application's to signal; ours is an empty message, sent under the old key.
      if (this.sentUnderKey >= this.rekeyAfterMessages || Date.now() - this.sendKeyAt >= this.rekeyAfterMs) this.sendRekey();
      const [ct, tag] = this.sendCs.encryptWithAdParts(EMPTY, message);
      return this.writeFrame(ct, tag);
    } catch (err) {
      if (err instanceof NoiseError && err.code === 'NONCE_EXHAUSTED') {
        // Noise §5.1: the session is over. End it cleanly: what was sent is flushed, then FIN.
        this.closed = true;
        this.error ??= err;
        this.socket.end();
      } else {
        this.destroy(err as Error);
      }
      return false;
    }
  }

  /** Batches the messages sent until `uncork` into one socket write (writev). */
  cork(): void { this.socket.cork(); }
  uncork(): void { this.socket.uncork(); }

  private sendRekey(): void {
    const [ct, tag] = this.sendCs.encryptWithAdParts(EMPTY, EMPTY);
    this.writeFrame(ct, tag);
    this.sendCs.rekey();
    this.rekeysSent++;
    this.sentUnderKey = 0;
    this.sendKeyAt = Date.now();
  }

  private writeFrame(ct: Uint8Array, tag: Uint8Array): boolean {
    const header = Buffer.allocUnsafe(2); // fresh each time: the socket may still hold the last one
    header.writeUInt16BE(ct.length + tag.length, 0);
    const s = this.socket;
    s.cork();
    s.write(header);
    if (ct.length > 0) s.write(ct);
    const ok = s.write(tag);
    s.uncork();
    this.sentUnderKey++;
    return ok;
  }

  /** Decrypts and hands out buffered messages until none is whole, or paused, or closed. */
  private deliver(): void {
    if (this.delivering || !this.started) return;
    this.delivering = true;
    try {
      while (!this.userPaused && !this.closed) {
        // The frame is decrypted at once into new memory, so a spanning one can reuse one buffer.
        const frame = this.reader.readFrame(this.scratch);
        if (frame === null) break;
        if (frame.length < TAG_LEN) { this.destroy(new NoiseError('BAD_MESSAGE', 'transport message shorter than its tag')); break; }
        let plaintext: Buffer;
        try {
          const split = frame.length - TAG_LEN;
          plaintext = this.recvCs.decryptWithAdParts(EMPTY, frame.subarray(0, split), frame.subarray(split)) as Buffer;
        } catch (err) {
          this.destroy(err instanceof NoiseError ? err : new NoiseError('DECRYPT_FAILED', 'message authentication failed'));
          break;
        }
        if (plaintext.length === 0) { this.recvCs.rekey(); this.rekeysReceived++; continue; } // the peer's rekey marker
        this.onMessage(plaintext);
      }
    } finally {
      this.delivering = false;
    }
  }

  pause(): void {
    this.userPaused = true;
    this.socket.pause();
  }

  resume(): void {
    if (this.closed) return;
    this.userPaused = false;
    this.deliver();
    if (this.started && !this.userPaused && !this.closed) this.socket.resume();
  }

  end(): void {
    if (this.closed) return;
    this.socket.end();
  }

  destroy(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.error ??= error ?? new NoiseError('CLOSED', 'channel destroyed');
    this.socket.destroy();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.closed = true;
    // A clean end is a FIN both ways; a reset or a bare close is reported as an error.
    const err = this.error ?? (this.gotFin ? undefined : new NoiseError('CLOSED', 'connection closed without FIN'));
    this.onClose(err);
  }

  /** For tests of nonce exhaustion only (Noise §5.1 SetNonce); both peers must agree on the values. */
  setNoncesForTestingOnly(send: bigint | null, receive: bigint | null): void {
    if (send !== null) this.sendCs.setNonce(send);
    if (receive !== null) this.recvCs.setNonce(receive);
  }
}
