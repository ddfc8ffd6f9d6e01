import type { Socket } from 'node:net';
import { NoiseError } from '../crypto/errors.js';
import { MAX_NOISE_MESSAGE } from '../crypto/handshake-state.js';
import { readsIntoReusedBuffer, setBytesHandler } from '../net/index.js';
import { ChannelError } from './errors.js';
import type { FrameReader } from './frame-reader.js';
import type { MessageChannel } from './message-channel.js';
import type { CipherName } from './suite.js';
import { MAX_PLAINTEXT, type FrameSink, type TransportState } from './transport-state.js';

export interface ChannelInit {
  socket: Socket;
  /** The handshake's reader: it may already hold transport messages sent right behind the handshake. */
  reader: FrameReader;
  transport: TransportState;
  remoteStaticKey: Buffer;
  cipher: CipherName;
  handshakeHash: Buffer;
  initiator: boolean;
}

/**
 * Writes each transport message as [length, ciphertext, tag]: a whole frame the transport state
 * built in one buffer as one write, or three parts corked into one (never concatenated).
 */
class SocketFrameSink implements FrameSink {
  constructor(private readonly socket: Socket) {}

  writeFrame(ct: Uint8Array, tag: Uint8Array): boolean {
    const header = Buffer.allocUnsafe(2); // fresh each time: the socket may still hold the last one
    header.writeUInt16BE(ct.length + tag.length, 0);
    const s = this.socket;
    s.cork();
    s.write(header);
    if (ct.length > 0) s.write(ct);
    const ok = s.write(tag);
    s.uncork();
    return ok;
  }

  writeSealed(frame: Buffer): boolean {
    return this.socket.write(frame);
  }
}

/**
 * An established Noise session over one TCP socket: the socket side only. Frames read are handed
 * to the TransportState, which decrypts them and follows rekeys; messages sent are encrypted by it
 * into the socket. Message delivery starts on the next turn of the event loop after
 * `connectChannel`/`accept` resolves: set the hooks as soon as the promise resolves.
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
  /** @internal The keys and the rekey policy; tests reach its nonce hook through it. */
  readonly transport: TransportState;

  onMessage: (message: Buffer) => void = () => {};
  onDrain: () => void = () => {};
  onClose: (error?: Error) => void = () => {};

  private readonly reader: FrameReader;
  private readonly sink: SocketFrameSink;
  private readonly scratch = Buffer.allocUnsafe(MAX_NOISE_MESSAGE);
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
    this.transport = init.transport;
    this.sink = new SocketFrameSink(init.socket);
    this.remoteStaticKey = init.remoteStaticKey;
    this.cipher = init.cipher;
    this.handshakeHash = init.handshakeHash;
    this.initiator = init.initiator;

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

  /** Rekeys this side has signalled, and the peer's it has followed (Noise §11.3). */
  get rekeysSent(): number { return this.transport.rekeysSent; }
  get rekeysReceived(): number { return this.transport.rekeysReceived; }

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
    try {
      return this.transport.encrypt(message, this.sink);
    } catch (err) {
      return this.sendFailed(err as Error);
    }
  }

  private sendFailed(err: Error): false {
    const ended = this.transport.error;
    if (ended === undefined) throw err; // a refused message (empty, too large): nothing was sent, the channel goes on
    if (ended instanceof NoiseError && ended.code === 'NONCE_EXHAUSTED') {
      // Noise §5.1: the session is over. End it cleanly: what was sent is flushed, then FIN.
      this.closed = true;
      this.error ??= ended;
      this.socket.end();
    } else {
      this.destroy(ended);
    }
    return false;
  }

  /** Batches the messages sent until `uncork` into one socket write (writev). */
  cork(): void { this.socket.cork(); }
  uncork(): void { this.socket.uncork(); }

  /** Decrypts and hands out buffered messages until none is whole, or paused, or closed. */
  private deliver(): void {
    if (this.delivering || !this.started) return;
    this.delivering = true;
    try {
      while (!this.userPaused && !this.closed) {
        // The frame is decrypted at once into new memory, so a spanning one can reuse one buffer.
        const frame = this.reader.readFrame(this.scratch);
        if (frame === null) break;
        let plaintext: Buffer | null;
        try {
          plaintext = this.transport.decrypt(frame);
        } catch (err) {
          this.destroy(err as Error);
          break;
        }
        if (plaintext !== null) this.onMessage(plaintext); // null: the peer's rekey marker, followed
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
    this.error ??= error ?? new ChannelError('CLOSED', 'channel destroyed');
    this.socket.destroy();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.closed = true;
    // A clean end is a FIN both ways; a reset or a bare close is reported as an error.
    const err = this.error ?? (this.gotFin ? undefined : new ChannelError('CLOSED', 'connection closed without FIN'));
    this.onClose(err);
  }
}
