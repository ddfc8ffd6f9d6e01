import { performance } from 'node:perf_hooks';
import type { MessageChannel } from '../crypto/message-channel.js';
import { silentLogger, type Logger } from '../log.js';
import { resolveMuxConfig, type MuxConfig } from './config.js';
import { MuxError, type MuxErrorCode } from './errors.js';
import {
  FRAME_NAMES,
  FRAME_TYPE_COUNT,
  FramePacker,
  FrameType,
  GoAwayCode,
  HEADER_SIZE,
  INITIAL_WINDOW,
  MAX_WINDOW,
  PING_PAYLOAD_SIZE,
  ResetCode,
  decodeOpenMetadata,
  encodeOpenMetadata,
  maxOpenMetadataSize,
  parseFrames,
  type FrameSink,
  type OpenMetadata,
} from './frame.js';
import { ReceiveWindow } from './receive-window.js';
import { Stream, type StreamHost } from './stream.js';

/** Largest data run one stream packs before the next ready stream gets its turn (fairness). */
const QUANTUM = 32 * 1024;
/** Control bytes we write while the socket is backed up before we stop reading the peer. */
const CONTROL_BACKLOG_LIMIT = 1024 * 1024;
const MAX_STREAM_ID = 0xffffffff;

type Handler = (s: Session, id: number, payload: Buffer) => boolean;

interface Control {
  type: number;
  id: number;
  value: number;
  payload: Buffer | null;
}

interface PendingPing {
  sentAt: number;
  resolve: (rtt: number) => void;
  reject: (err: Error) => void;
}

export interface SessionOptions {
  role: 'client' | 'server';
  config?: Partial<MuxConfig>;
  logger?: Logger;
}

const noop = (): void => {};

/**
 * Many streams over one secure channel (docs/protocol.md "Multiplex"). The client side opens
 * odd stream ids, the server side even ones. Frames queued during one event-loop turn are
 * packed into as few channel messages as possible and sent at the end of the turn.
 */
export class Session implements FrameSink {
  /** A stream the peer opened; `stream.meta` is set. Attach hooks (or `splice`) synchronously. */
  onStream: (stream: Stream) => void = (s) => s.reset(ResetCode.REFUSED_GOING_AWAY);
  /** Once; no error only after the peer's authenticated CLOSE frame. */
  onClose: (error?: MuxError) => void = noop;

  readonly config: MuxConfig;
  readonly role: 'client' | 'server';
  readonly writeHighWaterMark: number;
  /** Smoothed RTT in ms from ping/pong (0 until the first pong). */
  rtt = 0;

  private readonly channel: MessageChannel;
  private readonly log: Logger;
  private readonly packer: FramePacker;
  private readonly streamHost: StreamHost;
  private readonly streams = new Map<number, Stream>();
  private nextLocalId: number;
  private lastPeerId = 0;
  // Flow control, session level (docs/protocol.md "Flow control").
  private sendWindow = INITIAL_WINDOW;
  private readonly recv: ReceiveWindow;
  private sessionUpdatePending = false;
  // Writer state.
  private ready: Stream[] = [];
  private readyHead = 0;
  private pendingUpdates: Stream[] = [];
  private control: Control[] = [];
  private pendingPong: Buffer | null = null;
  private drained: Stream[] = [];
  private flushScheduled = false;
  private blocked = false;
  private blockedControlBytes = 0;
  private readPaused = false;
  // Lifecycle.
  private closed = false;
  private closeSent = false;
  private closeReceived = false;
  private closeWritten = false;
  private goAwaySent = false;
  private goAwayReceived = false;
  private pings = new Map<number, PendingPing>();
  private pingCounter = 0;
  private keepalivePing = 0;
  private lastRecvAt = performance.now();
  private keepaliveTimer: NodeJS.Timeout | null = null;

  constructor(channel: MessageChannel, opts: SessionOptions) {
    this.config = resolveMuxConfig(opts.config);
    // docs/protocol.md "Flow control": the session grants at a quarter of its cap, or 1 MiB.
    this.recv = new ReceiveWindow(this.config.maxSessionBuffered, 4, 4 * INITIAL_WINDOW);
    this.role = opts.role;
    this.writeHighWaterMark = this.config.streamWriteHighWaterMark;
    this.log = opts.logger ?? silentLogger;
    this.channel = channel;
    this.nextLocalId = opts.role === 'client' ? 1 : 2;
    if (channel.maxMessageSize < HEADER_SIZE + 64) throw new RangeError('channel.maxMessageSize too small for the mux');
    this.packer = new FramePacker(channel.maxMessageSize);
    this.streamHost = {
      config: this.config,
      schedule: (s) => this.markReady(s),
      windowUpdateDue: (s) => {
        this.pendingUpdates.push(s);
        this.scheduleFlush();
      },
      consumed: (n, wasBuffered) => this.consumed(n, wasBuffered),
      reset: (s, code) => this.resetStream(s, code),
      done: (s) => this.streamDone(s),
    };
    channel.onMessage = (m) => this.onMessage(m);
    channel.onDrain = () => this.onChannelDrain();
    channel.onClose = (err) => this.onChannelClose(err);
    // Grant the peer the session credit above the protocol's initial window at once.
    this.checkSessionUpdate();
    // First RTT sample for window auto-tuning, then keepalive.
    this.keepalivePing = this.sendPing();
    this.pings.set(this.keepalivePing, { sentAt: performance.now(), resolve: noop, reject: noop });
    this.armKeepalive(this.config.keepaliveIntervalMs);
  }

  get streamCount(): number {
    return this.streams.size;
  }
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Opens a stream; the open frame carries `meta` and as much of `firstData` as credit and the
   * message allow (the rest follows in DATA frames). Errors (limits, GO_AWAY, closed session)
   * arrive through `stream.onClose` on the next tick, so hooks can be attached first.
   */
  openStream(meta: OpenMetadata, firstData?: Buffer): Stream {
    const encoded = encodeOpenMetadata(meta);
    if (encoded.length > this.config.maxOpenMetadata || encoded.length > maxOpenMetadataSize(this.channel.maxMessageSize)) {
      throw new MuxError('METADATA_TOO_LARGE', `open metadata is ${encoded.length} bytes, limit ${this.config.maxOpenMetadata}`);
    }
    let refusal: MuxError | null = null;
    if (this.closed || this.closeSent) refusal = new MuxError('SESSION_CLOSED', 'session is closed');
    else if (this.goAwayReceived) refusal = new MuxError('GOING_AWAY', 'peer sent GO_AWAY: no new streams');
    else if (this.streams.size >= this.config.maxStreams) refusal = new MuxError('TOO_MANY_STREAMS', `maxStreams (${this.config.maxStreams}) reached`);
    else if (this.nextLocalId > MAX_STREAM_ID) refusal = new MuxError('GOING_AWAY', 'stream ids exhausted');
    if (refusal) {
      const s = new Stream(this.streamHost, 0, meta, null); // nothing goes on the wire for it
      const err = refusal;
      process.nextTick(() => s._close(err));
      return s;
    }
    const id = this.nextLocalId;
    this.nextLocalId += 2;
    const s = new Stream(this.streamHost, id, meta, encoded);
    this.streams.set(id, s);
    if (firstData && firstData.length > 0) s.write(firstData);
    return s;
  }

  /** The peer may open no new streams from now on; existing ones go on. */
  goAway(code: number = GoAwayCode.NORMAL): void {
    if (this.closed || this.closeSent || this.goAwaySent) return;
    this.goAwaySent = true;
    this.pushControl(FrameType.GO_AWAY, 0, code >>> 0);
  }

  /**
   * Authenticated close: unfinished streams end with SESSION_CLOSED, a CLOSE frame is sent and
   * the channel half-closed. `onClose()` follows without error once the peer's CLOSE arrives.
   */
  close(): void {
    if (this.closed || this.closeSent) return;
    this.closeSent = true;
    this.failStreams(new MuxError('SESSION_CLOSED', 'session closed locally'));
    this.ready.length = 0;
    this.readyHead = 0;
    this.pushControl(FrameType.CLOSE, 0, 0);
    this.flush();
    this.channel.end();
    // A peer that never answers CLOSE (but keeps the link alive) must not hold the session.
    setTimeout(() => this.destroy(new MuxError('KEEPALIVE_TIMEOUT', 'peer did not answer CLOSE')), this.config.keepaliveTimeoutMs).unref();
  }

  /** Tears everything down at once; every open stream errors. */
  destroy(error?: Error): void {
    if (this.closed) return;
    const err = error instanceof MuxError ? error : new MuxError('DESTROYED', error ? `session destroyed: ${error.message}` : 'session destroyed', { cause: error });
    this.fail(err, true);
  }

  /** Round-trip time in ms, measured with PING/PONG (the frames keepalive uses). */
  ping(): Promise<number> {
    if (this.closed || this.closeSent) return Promise.reject(new MuxError('SESSION_CLOSED', 'session is closed'));
    return new Promise((resolve, reject) => {
      const n = this.sendPing();
      this.pings.set(n, { sentAt: performance.now(), resolve, reject });
    });
  }

  // ---- receive side -------------------------------------------------------------------------

  private onMessage(message: Buffer): void {
    if (this.closed || this.closeReceived) return; // nothing may follow CLOSE
    this.lastRecvAt = performance.now();
    parseFrames(message, this);
  }

  /** @internal FrameSink: dispatch by the table indexed by frame type. */
  frame(type: number, flags: number, id: number, payload: Buffer): boolean {
    if (this.closed) return false;
    if (type >= FRAME_TYPE_COUNT) return this.protocolError(`unknown frame type ${type}`);
    if (flags !== 0) return this.protocolError(`${FRAME_NAMES[type]} with reserved flags ${flags}`);
    return HANDLERS[type](this, id, payload);
  }

  /** @internal */
  truncated(offset: number): void {
    this.protocolError(`frame truncated at message offset ${offset}`);
  }

  private isPeerId(id: number): boolean {
    return (id & 1) === (this.role === 'client' ? 0 : 1);
  }

  /** A stream id that was once valid in this session (ids are never reused). */
  private wasOpen(id: number): boolean {
    if (id === 0) return false;
    return this.isPeerId(id) ? id <= this.lastPeerId : id < this.nextLocalId;
  }

  /** Stream frame for an id not in the map: fine if it was closed, else a protocol error. */
  private unknownStream(id: number, what: string): boolean {
    if (this.wasOpen(id)) return true;
    return this.protocolError(`${what} for stream ${id} that was never opened`);
  }

  onData(id: number, payload: Buffer): boolean {
    const s = this.streams.get(id);
    if (s === undefined) {
      if (!this.unknownStream(id, 'DATA')) return false;
      // In flight when we reset it: it still used session credit; give it back.
      if (!this.takeSessionCredit(payload.length)) return false;
      this.returnSessionCredit();
      return true;
    }
    return this.receiveData(s, payload);
  }

  private takeSessionCredit(n: number): boolean {
    if (this.recv.take(n)) return true;
    return this.fail(new MuxError('FLOW_CONTROL', `peer sent ${n} bytes with ${this.recv.window} bytes of session credit`));
  }

  private receiveData(s: Stream, payload: Buffer): boolean {
    const n = payload.length;
    if (s._finReceived) return this.protocolError(`DATA after FIN on stream ${s.id}`);
    if (s._openPending) return this.protocolError(`DATA for stream ${s.id} before its OPEN`);
    if (!s._takeCredit(n)) return this.fail(new MuxError('FLOW_CONTROL', `peer sent ${n} bytes on stream ${s.id} with ${s._credit} bytes of credit`));
    if (!this.takeSessionCredit(n)) return false;
    if (n === 0) return true;
    // A small view would pin its whole message (up to 64 KiB) while it waits in a queue or a
    // socket buffer: copy it, so memory held stays within 4x the bytes the windows allow.
    // Not Buffer.from: that copies small views into Node's shared 8 KiB pool slabs, and one
    // waiting byte would pin a whole slab (2,000 of them: 16 MiB).
    if (n * 4 < payload.buffer.byteLength) {
      const own = Buffer.allocUnsafeSlow(n);
      payload.copy(own);
      payload = own;
    }
    if (s._receive(payload)) this.recv.hold(n);
    return !this.closed;
  }

  onOpen(id: number, payload: Buffer): boolean {
    if (id === 0 || !this.isPeerId(id) || id <= this.lastPeerId) return this.protocolError(`OPEN with bad stream id ${id}`);
    this.lastPeerId = id;
    if (payload.length < 2) return this.protocolError('OPEN without metadata length');
    const metaLen = payload.readUInt16BE(0);
    if (2 + metaLen > payload.length) return this.protocolError('OPEN metadata length beyond the frame');
    const firstData = payload.subarray(2 + metaLen);
    if (firstData.length > INITIAL_WINDOW) return this.fail(new MuxError('FLOW_CONTROL', `OPEN carries ${firstData.length} bytes, beyond the initial window`));
    const meta = metaLen <= this.config.maxOpenMetadata ? decodeOpenMetadata(payload.subarray(2, 2 + metaLen)) : 'metadata too large';
    let refuse = -1;
    if (typeof meta === 'string') {
      this.log.warn({ event: 'mux.open_refused', stream: id, reason: meta }, 'mux: open refused: bad metadata');
      refuse = ResetCode.BAD_METADATA;
    } else if (this.goAwaySent || this.closeSent) {
      refuse = ResetCode.REFUSED_GOING_AWAY;
    } else if (this.streams.size >= this.config.maxStreams) {
      this.log.warn({ event: 'mux.open_refused', stream: id, reason: 'max_streams', maxStreams: this.config.maxStreams }, 'mux: open refused: too many streams');
      refuse = ResetCode.REFUSED_TOO_MANY;
    }
    if (refuse >= 0) {
      if (!this.takeSessionCredit(firstData.length)) return false;
      this.returnSessionCredit();
      this.pushControl(FrameType.RST, id, refuse);
      return true;
    }
    const s = new Stream(this.streamHost, id, meta as OpenMetadata, null);
    this.streams.set(id, s);
    s._checkWindowUpdate(); // a configured initial window above the protocol's
    try {
      this.onStream(s);
    } catch (err) {
      // The consumer's failure costs this stream only, never the session or the process.
      this.log.error({ event: 'mux.stream_handler_error', err, stream: id }, 'mux: onStream handler threw; stream reset');
      s.reset(ResetCode.INTERNAL, err as Error);
    }
    if (this.closed || s.destroyed) {
      return this.closed ? false : this.onData(id, firstData);
    }
    return firstData.length > 0 ? this.receiveData(s, firstData) : true;
  }

  onWindowUpdate(id: number, payload: Buffer): boolean {
    if (payload.length !== 4) return this.protocolError('WINDOW_UPDATE payload must be 4 bytes');
    const inc = payload.readUInt32BE(0);
    if (inc === 0) return this.protocolError('WINDOW_UPDATE with increment 0');
    if (id === 0) {
      if (this.sendWindow + inc > MAX_WINDOW) return this.protocolError('session window increment overflows');
      const was = this.sendWindow;
      this.sendWindow += inc;
      if (was === 0 && this.readyHead < this.ready.length) this.scheduleFlush();
      return true;
    }
    const s = this.streams.get(id);
    if (s === undefined) return this.unknownStream(id, 'WINDOW_UPDATE');
    return s._addSendCredit(inc) || this.protocolError(`stream ${id} window increment overflows`);
  }

  onFin(id: number, payload: Buffer): boolean {
    if (payload.length !== 0) return this.protocolError('FIN with payload');
    const s = this.streams.get(id);
    if (s === undefined) return this.unknownStream(id, 'FIN');
    if (s._openPending) return this.protocolError(`FIN for stream ${id} before its OPEN`);
    if (s._finReceived) return this.protocolError(`second FIN on stream ${id}`);
    s._receiveFin();
    return !this.closed;
  }

  onRst(id: number, payload: Buffer): boolean {
    if (payload.length !== 4) return this.protocolError('RST payload must be 4 bytes');
    const s = this.streams.get(id);
    if (s === undefined) return this.unknownStream(id, 'RST');
    const code = payload.readUInt32BE(0);
    const err =
      code === ResetCode.REFUSED_TOO_MANY
        ? new MuxError('TOO_MANY_STREAMS', `stream ${id} refused: peer is at its stream limit`, { resetCode: code })
        : code === ResetCode.REFUSED_GOING_AWAY
          ? new MuxError('GOING_AWAY', `stream ${id} refused: peer is going away`, { resetCode: code })
          : new MuxError('STREAM_RESET', `stream ${id} reset by peer (code ${code})`, { resetCode: code });
    this.detach(s);
    s._close(err);
    return !this.closed;
  }

  onPing(id: number, payload: Buffer): boolean {
    if (id !== 0 || payload.length !== PING_PAYLOAD_SIZE) return this.protocolError('malformed PING');
    // Only the latest PING is answered: a flood costs one PONG per flush.
    if (this.pendingPong === null) this.scheduleFlush();
    this.pendingPong = Buffer.from(payload);
    return true;
  }

  onPong(id: number, payload: Buffer): boolean {
    if (id !== 0 || payload.length !== PING_PAYLOAD_SIZE) return this.protocolError('malformed PONG');
    const n = payload.readUInt32BE(4);
    const p = this.pings.get(n);
    if (p === undefined) return true; // unsolicited or late: harmless
    this.pings.delete(n);
    const sample = performance.now() - p.sentAt;
    this.rtt = this.rtt === 0 ? sample : this.rtt * 0.875 + sample * 0.125;
    if (n === this.keepalivePing) this.keepalivePing = 0;
    p.resolve(sample);
    return true;
  }

  onGoAway(id: number, payload: Buffer): boolean {
    if (id !== 0 || payload.length !== 4) return this.protocolError('malformed GO_AWAY');
    const code = payload.readUInt32BE(0);
    this.goAwayReceived = true;
    this.log.info({ event: 'mux.go_away_received', code }, 'mux: peer is going away');
    // Streams whose OPEN has not left yet will never be accepted: fail them now.
    for (const s of [...this.streams.values()]) {
      if (s._openPending) {
        this.detach(s);
        s._close(new MuxError('GOING_AWAY', `stream ${s.id} not opened: peer sent GO_AWAY`, { goAwayCode: code }));
      }
    }
    return !this.closed;
  }

  onCloseFrame(id: number, payload: Buffer): boolean {
    if (id !== 0 || payload.length !== 0) return this.protocolError('malformed CLOSE');
    this.closeReceived = true;
    this.failStreams(new MuxError('SESSION_CLOSED', 'peer closed the session'));
    if (!this.closeSent) {
      this.closeSent = true;
      this.pushControl(FrameType.CLOSE, 0, 0);
      this.flush();
      this.channel.end();
    }
    return false; // nothing may follow CLOSE
  }

  // ---- flow control -------------------------------------------------------------------------

  /** The consumer took `n` bytes of a stream (delivered to onData). */
  private consumed(n: number, wasBuffered: boolean): void {
    if (wasBuffered) this.recv.release(n);
    if (!this.sessionUpdatePending) this.checkSessionUpdate();
  }

  /** Bytes that arrived for a closed or refused stream count as consumed at once: taking their credit already grew delta. */
  private returnSessionCredit(): void {
    if (!this.sessionUpdatePending) this.checkSessionUpdate();
  }

  private checkSessionUpdate(): void {
    if (this.recv.due()) {
      this.sessionUpdatePending = true;
      this.scheduleFlush();
    }
  }

  /** Removes a stream from the session and gives back the session credit its buffer held. */
  private detach(s: Stream): void {
    this.streams.delete(s.id);
    const held = s.readableLength; // gone with the stream: its session credit comes back
    if (held > 0) {
      this.recv.release(held);
      if (!this.sessionUpdatePending) this.checkSessionUpdate();
    }
  }

  private resetStream(s: Stream, code: number): void {
    if (this.streams.get(s.id) !== s) return;
    this.detach(s);
    if (!s._openPending && !this.closeSent && !this.closed) this.pushControl(FrameType.RST, s.id, code >>> 0);
  }

  /** Both directions finished cleanly. */
  private streamDone(s: Stream): void {
    this.detach(s);
    s._close();
  }

  // ---- send side ----------------------------------------------------------------------------

  private markReady(s: Stream): boolean {
    if (this.closeSent) return false;
    this.ready.push(s);
    this.scheduleFlush();
    return true;
  }

  private pushControl(type: number, id: number, value: number, payload: Buffer | null = null): void {
    this.control.push({ type, id, value, payload });
    this.scheduleFlush();
  }

  private sendPing(): number {
    let n = ++this.pingCounter;
    if (n > 0xffffffff) n = this.pingCounter = 1;
    const p = Buffer.alloc(PING_PAYLOAD_SIZE);
    p.writeUInt32BE(n, 4);
    this.pushControl(FrameType.PING, 0, 0, p);
    return n;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    // End of the current I/O turn: every socket read of this poll phase gets packed together.
    setImmediate(flushSession, this);
  }

  private sendMessage(): void {
    const m = this.packer.take();
    if (m.length === 0) return;
    if (!this.channel.send(m)) this.blocked = true;
  }

  /** Packs control frames, window updates and round-robin data into messages. */
  flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.closeWritten) return;
    // Every message of this flush leaves in one socket write (writev): fewer syscalls.
    const ch = this.channel;
    ch.cork?.();
    try {
      this.flushPacked();
    } finally {
      ch.uncork?.();
    }
  }

  private flushPacked(): void {
    const p = this.packer;
    const wasBlocked = this.blocked;
    const startLength = p.length;
    let controlBytes = 0;
    // 1. Control frames (small, never held back by data).
    if (this.sessionUpdatePending) {
      this.sessionUpdatePending = false;
      const delta = this.recv.grant();
      if (delta > 0) {
        if (p.room() < 4) this.sendMessage();
        p.putU32(FrameType.WINDOW_UPDATE, 0, delta);
      }
    }
    if (this.pendingPong !== null) {
      if (p.room() < PING_PAYLOAD_SIZE) this.sendMessage();
      p.put(FrameType.PONG, 0, this.pendingPong);
      this.pendingPong = null;
    }
    const ctl = this.control;
    for (let i = 0; i < ctl.length; i++) {
      const c = ctl[i];
      if (p.room() < 8) this.sendMessage();
      if (c.payload !== null) p.put(c.type, c.id, c.payload);
      else if (c.type === FrameType.CLOSE) {
        p.put(c.type, 0);
        this.closeWritten = true;
        break; // CLOSE is the last frame of the session
      }
      else p.putU32(c.type, c.id, c.value);
    }
    ctl.length = 0;
    const ups = this.pendingUpdates;
    if (ups.length > 0) {
      const now = performance.now();
      for (let i = 0; i < ups.length; i++) {
        const s = ups[i];
        const delta = s._grantWindowUpdate(now, this.rtt);
        if (delta === 0) continue;
        if (p.room() < 4) this.sendMessage();
        p.putU32(FrameType.WINDOW_UPDATE, s.id, delta);
      }
      ups.length = 0;
    }
    controlBytes = p.length - startLength;
    // 2. Data, round-robin over ready streams, while the channel takes it.
    if (!this.blocked && !this.closeWritten) this.flushData();
    this.sendMessage();
    if (wasBlocked) {
      this.blockedControlBytes += controlBytes;
      if (this.blockedControlBytes > CONTROL_BACKLOG_LIMIT && !this.readPaused) {
        // The peer makes us answer faster than it reads: stop reading until it catches up.
        this.readPaused = true;
        this.channel.pause();
      }
    }
    if (this.drained.length > 0) {
      const d = this.drained;
      this.drained = [];
      for (const s of d) if (!s.destroyed) s.onDrain();
    }
  }

  private flushData(): void {
    const p = this.packer;
    const low = this.writeHighWaterMark / 2;
    while (this.readyHead < this.ready.length) {
      if (this.blocked) return;
      const ready = this.ready; // compactReady may replace the array
      const s = ready[this.readyHead];
      if (s.destroyed) {
        ready[this.readyHead++] = undefined as unknown as Stream;
        s._unscheduled();
        this.compactReady();
        continue;
      }
      const credit = Math.min(s._sendCredit, this.sendWindow);
      // The quantum keeps round-robin fair among ready streams; a stream alone takes what fits,
      // so the far end gets one frame, and one socket write, per message instead of several.
      const alone = this.ready.length - this.readyHead === 1;
      let n = Math.min(s.writableLength, credit, alone ? p.maxMessageSize : QUANTUM);
      const meta = s._openMetadata;
      if (meta !== null) {
        if (p.openRoom(meta) < (n > 0 ? 1 : 0)) this.sendMessage();
        if (this.blocked) return;
        n = Math.min(n, p.openRoom(meta));
        s._packOpen(p, n);
        this.sendWindow -= n;
      } else if (n > 0) {
        if (p.room() < Math.min(n, 512)) this.sendMessage();
        if (this.blocked) return;
        n = Math.min(n, p.room());
        s._packData(p, n);
        this.sendWindow -= n;
      }
      if (s._drainDue()) this.drained.push(s);
      if (s._finDue) {
        if (p.room() < 0) this.sendMessage();
        s._packFin(p);
      }
      // Next turn: requeue at the back if it can still send, else drop it until credit or data.
      ready[this.readyHead++] = undefined as unknown as Stream;
      if (s._canSend) {
        ready.push(s);
        if (this.sendWindow === 0) {
          this.compactReady();
          return; // session credit exhausted: everyone waits for the peer's session update
        }
      } else {
        s._unscheduled();
      }
      this.compactReady();
    }
  }

  private compactReady(): void {
    if (this.readyHead === this.ready.length) {
      this.ready.length = 0;
      this.readyHead = 0;
    } else if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
      this.ready = this.ready.slice(this.readyHead);
      this.readyHead = 0;
    }
  }

  private onChannelDrain(): void {
    this.blocked = false;
    this.blockedControlBytes = 0;
    if (this.readPaused) {
      this.readPaused = false;
      this.channel.resume();
    }
    if (this.readyHead < this.ready.length) this.scheduleFlush();
  }

  // ---- keepalive and lifecycle --------------------------------------------------------------

  private armKeepalive(ms: number): void {
    this.keepaliveTimer = setTimeout(keepaliveTick, ms, this);
    this.keepaliveTimer.unref();
  }

  /** @internal */
  _keepalive(): void {
    this.keepaliveTimer = null;
    if (this.closed) return;
    const { keepaliveIntervalMs: interval, keepaliveTimeoutMs: timeout } = this.config;
    const silent = performance.now() - this.lastRecvAt;
    if (silent >= timeout) {
      this.fail(new MuxError('KEEPALIVE_TIMEOUT', `nothing heard from the peer for ${Math.round(silent)} ms`), true);
      return;
    }
    if (!this.closeSent && this.keepalivePing === 0) {
      const n = this.sendPing();
      this.keepalivePing = n;
      this.pings.set(n, { sentAt: performance.now(), resolve: noop, reject: noop });
    }
    this.armKeepalive(Math.max(1, Math.min(interval, timeout - silent)));
  }

  private onChannelClose(err?: Error): void {
    if (this.closed) return;
    if (this.closeReceived) {
      this.finish();
      return;
    }
    this.fail(new MuxError('CONNECTION_LOST', err ? `connection lost: ${err.message}` : 'connection closed without the authenticated close', { cause: err }), false);
  }

  private protocolError(reason: string): boolean {
    return this.fail(new MuxError('PROTOCOL_ERROR', `mux protocol error: ${reason}`), true);
  }

  private failStreams(err: MuxError): void {
    if (this.streams.size === 0) return;
    const all = [...this.streams.values()];
    this.streams.clear();
    this.recv.buffered = 0;
    for (const s of all) s._close(err);
  }

  /** Ends the session with `err`: streams error, pings reject, the channel is torn down. */
  private fail(err: MuxError, destroyChannel = true): false {
    if (this.closed) return false;
    const level = err.code === 'CONNECTION_LOST' || err.code === 'DESTROYED' ? 'info' : 'warn';
    this.log[level]({ event: 'mux.session_error', code: err.code, reason: err.message, streams: this.streams.size }, `mux: session ended: ${err.code}`);
    this.closed = true;
    this.teardown(err);
    if (destroyChannel) this.channel.destroy(err);
    this.onClose(err);
    return false;
  }

  private finish(): void {
    this.closed = true;
    this.log.debug({ event: 'mux.session_closed' }, 'mux: session closed');
    this.teardown(new MuxError('SESSION_CLOSED', 'session closed'));
    this.onClose();
  }

  private teardown(err: MuxError): void {
    if (this.keepaliveTimer) clearTimeout(this.keepaliveTimer);
    this.keepaliveTimer = null;
    this.failStreams(err);
    this.ready.length = 0;
    this.readyHead = 0;
    this.control.length = 0;
    this.pendingUpdates.length = 0;
    for (const p of this.pings.values()) p.reject(err);
    this.pings.clear();
  }
}

function flushSession(s: Session): void {
  s.flush();
}
function keepaliveTick(s: Session): void {
  s._keepalive();
}

// Dispatch table indexed by frame type (docs/protocol.md "Frame types").
const HANDLERS: Handler[] = [];
HANDLERS[FrameType.DATA] = (s, id, p) => s.onData(id, p);
HANDLERS[FrameType.OPEN] = (s, id, p) => s.onOpen(id, p);
HANDLERS[FrameType.WINDOW_UPDATE] = (s, id, p) => s.onWindowUpdate(id, p);
HANDLERS[FrameType.FIN] = (s, id, p) => s.onFin(id, p);
HANDLERS[FrameType.RST] = (s, id, p) => s.onRst(id, p);
HANDLERS[FrameType.PING] = (s, id, p) => s.onPing(id, p);
HANDLERS[FrameType.PONG] = (s, id, p) => s.onPong(id, p);
HANDLERS[FrameType.GO_AWAY] = (s, id, p) => s.onGoAway(id, p);
HANDLERS[FrameType.CLOSE] = (s, id, p) => s.onCloseFrame(id, p);

export type { MuxErrorCode };
