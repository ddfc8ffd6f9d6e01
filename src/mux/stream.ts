import { INITIAL_WINDOW, ResetCode, type OpenMetadata } from './frame.js';
import { ChunkQueue } from './queue.js';
import { ReceiveWindow } from './receive-window.js';
import type { MuxError } from './errors.js';

/** What a stream needs from its session (implemented by Session; kept narrow on purpose). */
export interface StreamHost {
  readonly writeHighWaterMark: number;
  _markReady(s: Stream): void;
  /** The consumer took `n` bytes; `wasBuffered` when they came out of the receive queue. */
  _consumed(s: Stream, n: number, wasBuffered: boolean): void;
  _resetStream(s: Stream, code: number): void;
  _streamDone(s: Stream): void;
}

const noop = (): void => {};

/**
 * One multiplexed, flow-controlled byte stream, both directions, with half-close. Hooks are
 * plain callbacks (one consumer: usually `splice`): no per-chunk write callbacks and a direct
 * coupling of pause/resume to credit (docs/performance.md "Mux" compares it with a Duplex).
 * Data that arrives while the stream is paused, or before `onData` is set, is buffered against
 * the stream's window; `resume()` delivers it.
 */
export class Stream {
  /** Odd when the client side opened it, even for the server side. */
  readonly id: number;
  /** The open frame's metadata (set on both sides). */
  readonly meta: OpenMetadata;
  bytesRead = 0;
  bytesWritten = 0;
  /** A chunk of data; a view the consumer may keep (never reused by the mux). */
  onData: ((chunk: Buffer) => void) | null = null;
  /** The peer half-closed (FIN) and every byte before it was delivered. */
  onEnd: () => void = noop;
  /** `write()` returned false earlier and the send queue has room again. */
  onDrain: () => void = noop;
  /** Exactly once: both directions finished (no error), or the stream was reset or lost. */
  onClose: (error?: MuxError | Error) => void = noop;

  /** @internal send side */
  readonly _sendQueue = new ChunkQueue();
  _sendWindow = INITIAL_WINDOW;
  _needDrain = false;
  _writeEnded = false;
  _finSent = false;
  _openSent: boolean;
  _openMeta: Buffer | null;
  _inReady = false;
  /** @internal receive side */
  private readonly recvQueue = new ChunkQueue();
  /** Grants at half the window (docs/protocol.md "Flow control"). */
  readonly _recv: ReceiveWindow;
  _lastUpdateAt = 0;
  _updatePending = false;
  _paused = false;
  _remoteEnded = false;
  _endEmitted = false;
  _closed = false;
  private readonly host: StreamHost;

  /** @internal Streams are made by `Session.openStream` and handed out by `Session.onStream`. */
  constructor(host: StreamHost, id: number, meta: OpenMetadata, openMeta: Buffer | null, recvMax: number) {
    this.host = host;
    this.id = id;
    this.meta = meta;
    this._openMeta = openMeta;
    this._openSent = openMeta === null;
    this._recv = new ReceiveWindow(recvMax, 2);
  }

  get destroyed(): boolean {
    return this._closed;
  }
  /** Bytes received but not yet delivered (counted against the window). */
  get readableLength(): number {
    return this._recv.buffered;
  }
  /** The stream's current receive window (auto-tuned from initialStreamWindow up to maxStreamWindow). */
  get receiveWindow(): number {
    return this._recv.max;
  }
  /** Bytes written but not yet packed into frames. */
  get writableLength(): number {
    return this._sendQueue.bytes;
  }

  /**
   * Queues `chunk` (not copied: do not modify it afterwards). Returns false when the send queue
   * is at its high-water mark: wait for `onDrain`. Writes to a reset stream are dropped.
   */
  write(chunk: Buffer): boolean {
    if (this._closed) return false;
    if (this._writeEnded) return false; // a write after end() is dropped, never a crash
    const n = chunk.length;
    if (n === 0) return true;
    this._sendQueue.push(chunk);
    this.bytesWritten += n;
    if (!this._inReady) this.host._markReady(this);
    if (this._sendQueue.bytes >= this.host.writeHighWaterMark) {
      this._needDrain = true;
      return false;
    }
    return true;
  }

  /** Half-close: a FIN follows the queued data. Reading goes on until the peer's FIN. */
  end(): void {
    if (this._closed || this._writeEnded) return;
    this._writeEnded = true;
    if (!this._inReady) this.host._markReady(this);
  }

  /** Stops delivering data; what arrives is buffered and no credit is returned (backpressure). */
  pause(): void {
    this._paused = true;
  }

  /** Delivers buffered data (synchronously, until paused again) and returns its credit. */
  resume(): void {
    this._paused = false;
    this._flushRecv();
  }

  /** Resets the stream (RST to the peer). With an error the reset code is INTERNAL, else CANCEL. */
  destroy(error?: Error): void {
    this.reset(error ? ResetCode.INTERNAL : ResetCode.CANCEL, error);
  }

  /** Resets the stream with `code` (docs/protocol.md "RST"); `onClose(error)` follows. */
  reset(code: number, error?: Error): void {
    if (this._closed) return;
    this.host._resetStream(this, code);
    this._close(error);
  }

  /** @internal Data frame payload within credit (checked by the session). True if buffered. */
  _receive(chunk: Buffer): boolean {
    if (this._paused || this.onData === null || !this.recvQueue.isEmpty) {
      this.recvQueue.push(chunk);
      this._recv.hold(chunk.length);
      return true;
    }
    this.bytesRead += chunk.length;
    this.onData(chunk);
    this.host._consumed(this, chunk.length, false);
    return false;
  }

  /** @internal The peer's FIN. */
  _receiveFin(): void {
    this._remoteEnded = true;
    this._flushRecv();
  }

  private _flushRecv(): void {
    const q = this.recvQueue;
    while (!this._paused && !this._closed && this.onData !== null && !q.isEmpty) {
      const chunk = q.shift();
      this._recv.release(chunk.length);
      this.bytesRead += chunk.length;
      this.onData(chunk);
      this.host._consumed(this, chunk.length, true);
    }
    if (this._remoteEnded && !this._endEmitted && !this._closed && !this._paused && this.onData !== null && q.isEmpty) {
      this._endEmitted = true;
      this.onEnd();
      if (this._finSent && !this._closed) this.host._streamDone(this);
    }
  }

  /** @internal Marks the stream finished and calls `onClose` once. */
  _close(error?: Error): void {
    if (this._closed) return;
    this._closed = true;
    this._sendQueue.clear();
    this.recvQueue.clear();
    this.onClose(error);
  }
}
