import type { MuxConfig } from './config.js';
import type { MuxError } from './errors.js';
import { FrameType, INITIAL_WINDOW, MAX_WINDOW, ResetCode, type FramePacker, type OpenMetadata } from './frame.js';
import { ChunkQueue } from './queue.js';
import { ReceiveWindow } from './receive-window.js';
import type { BudgetWaiter, SendBudget } from './send-budget.js';

/** What a stream needs from its session (kept narrow on purpose). */
export interface StreamHost {
  readonly config: MuxConfig;
  /** Queued send bytes, shared with the session's other streams (and maybe other sessions'). */
  readonly budget: SendBudget;
  /** `s` has something to send: give it a turn. False when the session sends no more data. */
  schedule(s: Stream): boolean;
  /** `s` owes the peer a WINDOW_UPDATE; the writer asks `s._grantWindowUpdate` for it. */
  windowUpdateDue(s: Stream): void;
  /** The consumer took `n` bytes; `wasBuffered` when they came out of a receive queue. */
  consumed(n: number, wasBuffered: boolean): void;
  /** `s` is reset locally: forget it, and tell the peer (RST `code`) if it knows the stream. */
  reset(s: Stream, code: number): void;
  /** Both directions of `s` finished cleanly: forget it. */
  done(s: Stream): void;
}

const noop = (): void => {};

/**
 * One multiplexed, flow-controlled byte stream, both directions, with half-close. Hooks are
 * plain callbacks (one consumer: usually `splice`): no per-chunk write callbacks and a direct
 * coupling of pause/resume to credit (docs/performance.md "Mux" compares it with a Duplex).
 * Data that arrives while the stream is paused, or before `onData` is set, is buffered against
 * the stream's window; `resume()` delivers it.
 *
 * The stream owns its queues and windows. Members named `_x` are the session's and the
 * writer's way to ask it for something; users call only the others.
 */
export class Stream implements BudgetWaiter {
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

  private readonly host: StreamHost;
  // Send side. Credit the peer granted us (docs/protocol.md "Flow control").
  private readonly sendQueue = new ChunkQueue();
  /** streamWriteHighWaterMark: `write()` returns false from here on. */
  private readonly highWaterMark: number;
  private sendWindow = INITIAL_WINDOW;
  /** Our OPEN's encoded metadata until the OPEN leaves; null after, and for streams the peer opened. */
  private openMeta: Buffer | null;
  /** In the writer's ready list. */
  private scheduled = false;
  private needDrain = false;
  private writeEnded = false;
  private finSent = false;
  // Receive side. Credit we granted the peer.
  private readonly recvQueue = new ChunkQueue();
  private readonly recv: ReceiveWindow;
  /** When the last WINDOW_UPDATE was computed (0: never), for auto-tuning. */
  private lastGrantAt = 0;
  /** In the writer's list of pending window updates. */
  private updatePending = false;
  private paused = false;
  private finReceived = false;
  private endEmitted = false;
  private closed = false;

  /**
   * @internal Streams are made by `Session.openStream` (with `openMeta`, the encoded metadata
   * its OPEN will carry) and handed out by `Session.onStream` (with null).
   */
  constructor(host: StreamHost, id: number, meta: OpenMetadata, openMeta: Buffer | null) {
    this.host = host;
    this.id = id;
    this.meta = meta;
    this.openMeta = openMeta;
    this.highWaterMark = host.config.streamWriteHighWaterMark;
    // docs/protocol.md "Flow control": a stream grants at half its window.
    this.recv = new ReceiveWindow(host.config.initialStreamWindow, 2);
    if (openMeta !== null) this.wantTurn(); // the OPEN goes out even before any data
  }

  get destroyed(): boolean {
    return this.closed;
  }
  /** Bytes received but not yet delivered (counted against the window). */
  get readableLength(): number {
    return this.recv.buffered;
  }
  /** The stream's current receive window (auto-tuned from initialStreamWindow up to maxStreamWindow). */
  get receiveWindow(): number {
    return this.recv.max;
  }
  /** Bytes written but not yet packed into frames. */
  get writableLength(): number {
    return this.sendQueue.bytes;
  }

  /**
   * Queues `chunk` (not copied: do not modify it afterwards). Returns false when the send queue
   * is at its high-water mark: wait for `onDrain`. Writes to a reset stream are dropped.
   */
  write(chunk: Buffer): boolean {
    if (this.closed) return false;
    if (this.writeEnded) return false; // a write after end() is dropped, never a crash
    const n = chunk.length;
    if (n === 0) return true;
    this.sendQueue.push(chunk);
    this.host.budget.add(n);
    this.bytesWritten += n;
    if (!this.scheduled) this.wantTurn();
    if (this.sendQueue.bytes >= this.highWaterMark) {
      this.needDrain = true;
      return false;
    }
    if (this.host.budget.spent) {
      this.needDrain = true;
      this.host.budget.wait(this);
      return false;
    }
    return true;
  }

  /** Half-close: a FIN follows the queued data. Reading goes on until the peer's FIN. */
  end(): void {
    if (this.closed || this.writeEnded) return;
    this.writeEnded = true;
    if (!this.scheduled) this.wantTurn();
  }

  /** Stops delivering data; what arrives is buffered and no credit is returned (backpressure). */
  pause(): void {
    this.paused = true;
  }

  /** Delivers buffered data (synchronously, until paused again) and returns its credit. */
  resume(): void {
    this.paused = false;
    this.deliverQueued();
  }

  /** Resets the stream (RST to the peer). With an error the reset code is INTERNAL, else CANCEL. */
  destroy(error?: Error): void {
    this.reset(error ? ResetCode.INTERNAL : ResetCode.CANCEL, error);
  }

  /** Resets the stream with `code` (docs/protocol.md "Frame types", RST codes); `onClose(error)` follows. */
  reset(code: number, error?: Error): void {
    if (this.closed) return;
    this.host.reset(this, code);
    this._close(error);
  }

  // ---- receive side: asked by the session's frame handlers ----------------------------------

  /** @internal Our OPEN has not left yet: the peer cannot know the stream. */
  get _openPending(): boolean {
    return this.openMeta !== null;
  }
  /** @internal The peer's FIN arrived. */
  get _finReceived(): boolean {
    return this.finReceived;
  }
  /** @internal Credit the peer has left on this stream. */
  get _credit(): number {
    return this.recv.window;
  }

  /** @internal The peer sent `n` bytes; false (nothing taken) when beyond its credit. */
  _takeCredit(n: number): boolean {
    return this.recv.take(n);
  }

  /** @internal A payload within credit: delivered, or queued (then true: it holds session credit). */
  _receive(chunk: Buffer): boolean {
    if (this.paused || this.onData === null || !this.recvQueue.isEmpty) {
      this.recvQueue.push(chunk);
      this.recv.hold(chunk.length);
      return true;
    }
    this.bytesRead += chunk.length;
    this.onData(chunk);
    this.consumed(chunk.length, false);
    return false;
  }

  /** @internal The peer's FIN. */
  _receiveFin(): void {
    this.finReceived = true;
    this.deliverQueued();
  }

  /** @internal A WINDOW_UPDATE for this stream; false when it would overflow the window. */
  _addSendCredit(increment: number): boolean {
    if (this.sendWindow + increment > MAX_WINDOW) return false;
    this.sendWindow += increment;
    if (!this.scheduled && (this.sendQueue.bytes > 0 || this._finDue)) this.wantTurn();
    return true;
  }

  /**
   * @internal Queues a WINDOW_UPDATE when one is due: the yamux rule, and a configured initial
   * window above the protocol's is granted at once, whatever its size (docs/protocol.md
   * "Flow control").
   */
  _checkWindowUpdate(): void {
    if (this.updatePending || this.finReceived) return;
    const w = this.recv;
    if (w.due() || (this.lastGrantAt === 0 && w.max > INITIAL_WINDOW && w.delta() > 0)) {
      this.updatePending = true;
      this.host.windowUpdateDue(this);
    }
  }

  /** @internal The increment for the WINDOW_UPDATE the writer is about to send (0: none after all). */
  _grantWindowUpdate(now: number, rtt: number): number {
    this.updatePending = false;
    if (this.closed || this.finReceived) return 0;
    const w = this.recv;
    const limit = this.host.config.maxStreamWindow;
    // Auto-tuning (quic-go / yamux): updates due within 2 RTTs mean the window, not the
    // reader, limits throughput: double it, up to maxStreamWindow.
    if (rtt > 0 && this.lastGrantAt > 0 && now - this.lastGrantAt < 2 * rtt && w.max < limit) {
      w.max = Math.min(w.max * 2, limit);
    }
    this.lastGrantAt = now;
    return w.grant();
  }

  // ---- send side: asked by the writer --------------------------------------------------------

  /** @internal Our OPEN's encoded metadata while it has not left, else null. */
  get _openMetadata(): Buffer | null {
    return this.openMeta;
  }
  /** @internal Credit the peer granted us and we have not spent. */
  get _sendCredit(): number {
    return this.sendWindow;
  }
  /** @internal Everything is queued for sending and the FIN has not gone out. */
  get _finDue(): boolean {
    return this.writeEnded && !this.finSent && this.sendQueue.bytes === 0;
  }
  /** @internal Data queued and credit to send it: worth another turn. */
  get _canSend(): boolean {
    return !this.closed && this.sendQueue.bytes > 0 && this.sendWindow > 0;
  }

  /** @internal Packs our OPEN with the next `n` queued bytes as first data. */
  _packOpen(p: FramePacker, n: number): void {
    p.putOpen(this.id, this.openMeta!, this.sendQueue, n);
    this.sendWindow -= n;
    this.host.budget.release(n);
    this.openMeta = null;
    this._checkWindowUpdate(); // a configured window above the protocol's, now that the peer knows us
  }

  /** @internal Packs a DATA frame of the next `n` queued bytes (n > 0, within credit). */
  _packData(p: FramePacker, n: number): void {
    p.putData(this.id, this.sendQueue, n);
    this.sendWindow -= n;
    this.host.budget.release(n);
  }

  /** @internal Packs the FIN; the stream is done if the peer's FIN was delivered too. */
  _packFin(p: FramePacker): void {
    p.put(FrameType.FIN, this.id);
    this.finSent = true;
    if (this.endEmitted) this.host.done(this);
  }

  /** @internal True once when a full send queue has fallen to half its high-water mark (and the budget has room). */
  _drainDue(): boolean {
    if (!this.needDrain || this.sendQueue.bytes > this.highWaterMark / 2) return false;
    if (this.host.budget.spent) {
      this.host.budget.wait(this);
      return false;
    }
    this.needDrain = false;
    return true;
  }

  /** @internal The shared budget has room again. */
  _budgetFreed(): void {
    if (this.closed || !this.needDrain || this.sendQueue.bytes > this.highWaterMark / 2) return;
    this.needDrain = false;
    this.onDrain();
  }

  /** @internal The writer dropped the stream from its ready list. */
  _unscheduled(): void {
    this.scheduled = false;
  }

  /** @internal Marks the stream finished, drops what it holds and calls `onClose` once. */
  _close(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.host.budget.release(this.sendQueue.bytes);
    this.host.budget.forget(this);
    this.sendQueue.clear();
    this.recvQueue.clear();
    this.recv.buffered = 0;
    this.onClose(error);
  }

  // ---- own ---------------------------------------------------------------------------------

  private wantTurn(): void {
    if (this.closed || this.id === 0) return; // id 0: refused at open, nothing goes on the wire
    this.scheduled = this.host.schedule(this);
  }

  private consumed(n: number, wasBuffered: boolean): void {
    this._checkWindowUpdate();
    this.host.consumed(n, wasBuffered);
  }

  private deliverQueued(): void {
    const q = this.recvQueue;
    while (!this.paused && !this.closed && this.onData !== null && !q.isEmpty) {
      const chunk = q.shift();
      this.recv.release(chunk.length);
      this.bytesRead += chunk.length;
      this.onData(chunk);
      this.consumed(chunk.length, true);
    }
    if (this.finReceived && !this.endEmitted && !this.closed && !this.paused && this.onData !== null && q.isEmpty) {
      this.endEmitted = true;
      this.onEnd();
      if (this.finSent && !this.closed) this.host.done(this);
    }
  }
}
