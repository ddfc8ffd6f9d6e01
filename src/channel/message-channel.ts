/**
 * What the multiplex (src/mux) needs from the secure channel under it: ordered, authenticated
 * messages of up to `maxMessageSize` bytes over one TCP connection. The Noise channel
 * (src/channel/noise-channel.ts) implements it. Hooks are plain callbacks, not an EventEmitter, to keep
 * the splice hot path free of emitter overhead; there is exactly one consumer (the mux Session).
 */
export interface MessageChannel {
  /** Largest plaintext one message may carry (Noise: 65535 − 16 tag bytes = 65519). */
  readonly maxMessageSize: number;
  /**
   * Encrypts one message and writes it to the socket. The buffer is not retained after the call
   * returns (it is encrypted into new memory), so the caller may reuse it. Returns false when the
   * socket's write buffer is above its high-water mark: stop sending until `onDrain`.
   */
  send(message: Uint8Array): boolean;
  /** Optional batching: messages sent between `cork` and `uncork` leave in one socket write. */
  cork?(): void;
  uncork?(): void;
  /** One decrypted message; `message` may be a view into a buffer that the channel does not reuse. */
  onMessage: (message: Buffer) => void;
  /** The socket's write buffer drained below its high-water mark. */
  onDrain: () => void;
  /**
   * Called exactly once when the channel is finished. `error` is undefined only when the peer
   * half-closed the TCP stream (FIN) and the local side has ended too; the consumer decides
   * whether that end was clean (for the mux: only after its authenticated close frame).
   */
  onClose: (error?: Error) => void;
  /** Stops reading from the socket (TCP backpressure reaches the peer); `resume` starts again. */
  pause(): void;
  resume(): void;
  /** Flushes what was sent, then half-closes the socket (TCP FIN). */
  end(): void;
  /** Tears the socket down at once; `onClose(error)` follows. */
  destroy(error?: Error): void;
}
