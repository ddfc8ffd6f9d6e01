import type { LogLimiter, Logger } from '../log.js';
import type { MuxConfig } from './config.js';
import { MuxError } from './errors.js';
import {
  FRAME_NAMES,
  FRAME_TYPE_COUNT,
  FrameType,
  INITIAL_WINDOW,
  PING_PAYLOAD_SIZE,
  ResetCode,
  decodeOpenMetadata,
  parseFrames,
  type FrameSink,
  type OpenMetadata,
} from './frame.js';
import type { Keepalive } from './keepalive.js';
import type { ReceiveWindow } from './receive-window.js';
import { Stream, type StreamHost } from './stream.js';
import type { StreamTable } from './streams.js';
import type { Writer } from './writer.js';

/** What the frame handlers work with: the session's parts, and the session for its own decisions. */
export interface ReceiverHost {
  readonly config: MuxConfig;
  /** For what the peer makes us say, frame by frame: bounded (LogLimiter). */
  readonly peerLog: LogLimiter;
  readonly log: Logger;
  readonly streams: StreamTable;
  /** The session's receive credit. */
  readonly recv: ReceiveWindow;
  readonly writer: Writer;
  readonly keepalive: Keepalive;
  /** Given to the streams the peer opens. */
  readonly streamHost: StreamHost;
  /** Whether a new stream from the peer is welcome (we sent no GO_AWAY and queued no CLOSE). */
  acceptsStreams(): boolean;
  /** Hands a stream the peer opened to the session's `onStream`. */
  deliver(s: Stream): void;
  /** Removes a finished stream from the session. */
  detach(s: Stream): void;
  /** Ends the session with `err`. */
  fail(err: MuxError): false;
  /** The peer's CLOSE: the session fails its streams and answers with its own. */
  peerClosed(): void;
}

type Handler = (r: Receiver, id: number, payload: Buffer) => boolean;

/**
 * The frames a session receives, one message at a time, each checked against the rules of
 * docs/protocol.md "Multiplex" and dispatched by type through HANDLERS. A handler returns
 * false when the session can take no more frames (it failed or closed): parsing stops there.
 * Anything the peer gets wrong ends the session; nothing is sent back to it.
 */
export class Receiver implements FrameSink {
  /** The peer sent GO_AWAY: we open no new streams. */
  goAwayReceived = false;
  /** The peer's CLOSE arrived: nothing may follow it, and the channel's end is the clean one. */
  closeReceived = false;
  private stopped = false;
  private readonly streams: StreamTable;
  private readonly recv: ReceiveWindow;
  private readonly writer: Writer;

  constructor(private readonly host: ReceiverHost) {
    this.streams = host.streams;
    this.recv = host.recv;
    this.writer = host.writer;
  }

  /** One message from the channel. */
  receive(message: Buffer): void {
    if (this.stopped || this.closeReceived) return; // nothing may follow CLOSE
    this.host.keepalive.heard();
    parseFrames(message, this);
  }

  /** The session is over: later frames are ignored. */
  stop(): void {
    this.stopped = true;
  }

  /** @internal FrameSink */
  frame(type: number, flags: number, id: number, payload: Buffer): boolean {
    if (this.stopped) return false;
    if (type >= FRAME_TYPE_COUNT) return this.protocolError(`unknown frame type ${type}`);
    if (flags !== 0) return this.protocolError(`${FRAME_NAMES[type]} with reserved flags ${flags}`);
    return HANDLERS[type](this, id, payload);
  }

  /** @internal FrameSink */
  truncated(offset: number): void {
    this.protocolError(`frame truncated at message offset ${offset}`);
  }

  handleData(id: number, payload: Buffer): boolean {
    const s = this.streams.get(id);
    if (s === undefined) return this.unknownStream(id, 'DATA') && this.discardData(payload.length);
    return this.receiveData(s, payload);
  }

  handleOpen(id: number, payload: Buffer): boolean {
    if (!this.streams.acceptPeerId(id)) return this.protocolError(`OPEN with bad stream id ${id}`);
    // The payload: u16 metadata length, the metadata, then first data.
    if (payload.length < 2) return this.protocolError('OPEN without metadata length');
    const metaLen = payload.readUInt16BE(0);
    if (2 + metaLen > payload.length) return this.protocolError('OPEN metadata length beyond the frame');
    const firstData = payload.subarray(2 + metaLen);
    if (firstData.length > INITIAL_WINDOW) return this.host.fail(new MuxError('FLOW_CONTROL', `OPEN carries ${firstData.length} bytes, beyond the initial window`));
    const { config, peerLog } = this.host;
    const meta = metaLen <= config.maxOpenMetadata ? decodeOpenMetadata(payload.subarray(2, 2 + metaLen)) : 'metadata too large';
    let refuse = -1;
    if (typeof meta === 'string') {
      peerLog.warn({ event: 'mux.open_refused', stream: id, reason: meta }, 'mux: open refused: bad metadata');
      refuse = ResetCode.BAD_METADATA;
    } else if (!this.host.acceptsStreams()) {
      refuse = ResetCode.REFUSED_GOING_AWAY;
    } else if (this.streams.size >= config.maxStreams) {
      peerLog.warn({ event: 'mux.open_refused', stream: id, reason: 'max_streams', maxStreams: config.maxStreams }, 'mux: open refused: too many streams');
      refuse = ResetCode.REFUSED_TOO_MANY;
    }
    if (refuse >= 0) {
      // docs/protocol.md "Frame types": a refusal is an RST; the session goes on.
      if (!this.discardData(firstData.length)) return false;
      this.writer.queueControl(FrameType.RST, id, refuse);
      return true;
    }
    const s = new Stream(this.host.streamHost, id, meta as OpenMetadata, null);
    this.streams.add(s);
    s._checkWindowUpdate(); // a configured initial window above the protocol's, granted at once
    this.host.deliver(s);
    if (this.stopped) return false;
    if (s.destroyed) return this.handleData(id, firstData); // reset by its consumer: gone already
    return firstData.length > 0 ? this.receiveData(s, firstData) : true;
  }

  handleWindowUpdate(id: number, payload: Buffer): boolean {
    if (payload.length !== 4) return this.protocolError('WINDOW_UPDATE payload must be 4 bytes');
    const inc = payload.readUInt32BE(0);
    if (inc === 0) return this.protocolError('WINDOW_UPDATE with increment 0');
    if (id === 0) {
      if (!this.writer.addSendCredit(inc)) return this.protocolError('session window increment overflows');
      return true;
    }
    const s = this.streams.get(id);
    if (s === undefined) return this.unknownStream(id, 'WINDOW_UPDATE');
    if (!s._addSendCredit(inc)) return this.protocolError(`stream ${id} window increment overflows`);
    return true;
  }

  handleFin(id: number, payload: Buffer): boolean {
    if (payload.length !== 0) return this.protocolError('FIN with payload');
    const s = this.streams.get(id);
    if (s === undefined) return this.unknownStream(id, 'FIN');
    if (s._openPending) return this.protocolError(`FIN for stream ${id} before its OPEN`);
    if (s._finReceived) return this.protocolError(`second FIN on stream ${id}`);
    s._receiveFin();
    return !this.stopped;
  }

  handleRst(id: number, payload: Buffer): boolean {
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
    this.host.detach(s);
    s._close(err);
    return !this.stopped;
  }

  handlePing(id: number, payload: Buffer): boolean {
    if (id !== 0 || payload.length !== PING_PAYLOAD_SIZE) return this.protocolError('malformed PING');
    this.writer.queuePong(payload);
    return true;
  }

  handlePong(id: number, payload: Buffer): boolean {
    if (id !== 0 || payload.length !== PING_PAYLOAD_SIZE) return this.protocolError('malformed PONG');
    this.host.keepalive.pong(payload);
    return true;
  }

  handleGoAway(id: number, payload: Buffer): boolean {
    if (id !== 0 || payload.length !== 4) return this.protocolError('malformed GO_AWAY');
    const code = payload.readUInt32BE(0);
    this.goAwayReceived = true;
    this.host.log.info({ event: 'mux.go_away_received', code }, 'mux: peer is going away');
    // Streams whose OPEN has not left yet will never be accepted: fail them now.
    for (const s of this.streams.list()) {
      if (s._openPending) {
        this.host.detach(s);
        s._close(new MuxError('GOING_AWAY', `stream ${s.id} not opened: peer sent GO_AWAY`, { goAwayCode: code }));
      }
    }
    return !this.stopped;
  }

  handleClose(id: number, payload: Buffer): boolean {
    if (id !== 0 || payload.length !== 0) return this.protocolError('malformed CLOSE');
    this.closeReceived = true;
    this.host.peerClosed();
    return false; // nothing may follow CLOSE
  }

  private receiveData(s: Stream, payload: Buffer): boolean {
    const n = payload.length;
    if (s._finReceived) return this.protocolError(`DATA after FIN on stream ${s.id}`);
    if (s._openPending) return this.protocolError(`DATA for stream ${s.id} before its OPEN`);
    if (!s._takeCredit(n)) return this.host.fail(new MuxError('FLOW_CONTROL', `peer sent ${n} bytes on stream ${s.id} with ${s._credit} bytes of credit`));
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
    return !this.stopped;
  }

  /** Data for a stream that is gone or refused: it used session credit, which comes back at once. */
  private discardData(n: number): boolean {
    if (!this.takeSessionCredit(n)) return false;
    this.writer.checkSessionUpdate();
    return true;
  }

  private takeSessionCredit(n: number): boolean {
    if (this.recv.take(n)) return true;
    return this.host.fail(new MuxError('FLOW_CONTROL', `peer sent ${n} bytes with ${this.recv.window} bytes of session credit`));
  }

  /** A stream frame for an id not in the table: late if the stream was once open, else a protocol error. */
  private unknownStream(id: number, what: string): boolean {
    if (this.streams.wasOpen(id)) return true;
    return this.protocolError(`${what} for stream ${id} that was never opened`);
  }

  private protocolError(reason: string): false {
    return this.host.fail(new MuxError('PROTOCOL_ERROR', `mux protocol error: ${reason}`));
  }
}

// Dispatch table indexed by frame type (docs/protocol.md "Frame types").
const HANDLERS: Handler[] = [];
HANDLERS[FrameType.DATA] = (r, id, p) => r.handleData(id, p);
HANDLERS[FrameType.OPEN] = (r, id, p) => r.handleOpen(id, p);
HANDLERS[FrameType.WINDOW_UPDATE] = (r, id, p) => r.handleWindowUpdate(id, p);
HANDLERS[FrameType.FIN] = (r, id, p) => r.handleFin(id, p);
HANDLERS[FrameType.RST] = (r, id, p) => r.handleRst(id, p);
HANDLERS[FrameType.PING] = (r, id, p) => r.handlePing(id, p);
HANDLERS[FrameType.PONG] = (r, id, p) => r.handlePong(id, p);
HANDLERS[FrameType.GO_AWAY] = (r, id, p) => r.handleGoAway(id, p);
HANDLERS[FrameType.CLOSE] = (r, id, p) => r.handleClose(id, p);
