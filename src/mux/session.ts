import type { MessageChannel } from '../channel/message-channel.js';
import { LogLimiter, silentLogger, type Logger } from '../log.js';
import { resolveMuxConfig, type MuxConfig } from './config.js';
import { MuxError } from './errors.js';
import { FrameType, GoAwayCode, HEADER_SIZE, INITIAL_WINDOW, ResetCode, encodeOpenMetadata, maxOpenMetadataSize, type OpenMetadata } from './frame.js';
import { Keepalive } from './keepalive.js';
import { ReceiveWindow } from './receive-window.js';
import { Receiver } from './receiver.js';
import { SendBudget } from './send-budget.js';
import { Stream, type StreamHost } from './stream.js';
import { StreamTable } from './streams.js';
import { Writer } from './writer.js';

export interface SessionOptions {
  role: 'client' | 'server';
  config?: Partial<MuxConfig>;
  logger?: Logger;
  /** Queued send bytes shared with other sessions (a relay's, an agent's); default: the session's own, of maxSessionQueued. */
  sendBudget?: SendBudget;
}

/** How far the session is through its end (docs/protocol.md "End of a session"); it only moves on. */
const enum Phase {
  /** Streams open, data flows. */
  Open,
  /** Our CLOSE is queued: no new streams, no more data; the channel's end follows. */
  Closing,
  /** Over, `onClose` called. */
  Closed,
}

const noop = (): void => {};

/**
 * Many streams over one secure channel (docs/protocol.md "Multiplex"). The client side opens
 * odd stream ids, the server side even ones. The session is the public API and the session's
 * end; its parts do the rest: the Receiver checks and dispatches incoming frames, the Writer
 * packs outgoing ones into messages at the end of each event-loop turn, the Keepalive pings,
 * and each Stream keeps its own queues and windows.
 */
export class Session {
  /** A stream the peer opened; `stream.meta` is set. Attach hooks (or `splice`) synchronously. */
  onStream: (stream: Stream) => void = (s) => s.reset(ResetCode.REFUSED_GOING_AWAY);
  /** Once; no error only after the peer's authenticated CLOSE frame. */
  onClose: (error?: MuxError) => void = noop;

  readonly config: MuxConfig;
  readonly role: 'client' | 'server';

  private readonly channel: MessageChannel;
  private readonly log: Logger;
  private readonly peerLog: LogLimiter;
  /** Session-wide receive credit: what all streams together may hold (docs/protocol.md "Flow control"). */
  private readonly recv: ReceiveWindow;
  private readonly writer: Writer;
  private readonly receiver: Receiver;
  private readonly keepalive: Keepalive;
  /** What the streams see of the session, built once. */
  private readonly streamHost: StreamHost;
  private readonly streams: StreamTable;
  private phase = Phase.Open;
  private goAwaySent = false;

  constructor(channel: MessageChannel, opts: SessionOptions) {
    this.config = resolveMuxConfig(opts.config);
    this.role = opts.role;
    this.log = opts.logger ?? silentLogger;
    this.peerLog = new LogLimiter(this.log);
    this.channel = channel;
    this.streams = new StreamTable(opts.role);
    if (channel.maxMessageSize < HEADER_SIZE + 64) throw new RangeError('channel.maxMessageSize too small for the mux');
    // docs/protocol.md "Flow control": the session grants at a quarter of its cap, or 1 MiB.
    this.recv = new ReceiveWindow(this.config.maxSessionBuffered, 4, 4 * INITIAL_WINDOW);
    const { keepaliveIntervalMs, keepaliveTimeoutMs } = this.config;
    this.keepalive = new Keepalive(
      {
        sendPing: (payload) => this.writer.queueControl(FrameType.PING, 0, 0, payload),
        closing: () => this.phase !== Phase.Open,
        timedOut: (err) => void this.fail(err),
      },
      keepaliveIntervalMs,
      keepaliveTimeoutMs,
    );
    this.writer = new Writer(channel, this.recv, this.keepalive);
    this.streamHost = {
      config: this.config,
      budget: opts.sendBudget ?? new SendBudget(this.config.maxSessionQueued),
      schedule: (s) => this.writer.schedule(s),
      windowUpdateDue: (s) => this.writer.queueWindowUpdate(s),
      consumed: (n, wasBuffered) => this.streamConsumed(n, wasBuffered),
      reset: (s, code) => this.resetStream(s, code),
      done: (s) => this.streamDone(s),
    };
    this.receiver = new Receiver({
      config: this.config,
      log: this.log,
      peerLog: this.peerLog,
      streams: this.streams,
      recv: this.recv,
      writer: this.writer,
      keepalive: this.keepalive,
      streamHost: this.streamHost,
      acceptsStreams: () => this.phase === Phase.Open && !this.goAwaySent,
      deliver: (s) => this.deliver(s),
      detach: (s) => this.detach(s),
      fail: (err) => this.fail(err),
      peerClosed: () => this.peerClosed(),
    });
    channel.onMessage = (m) => this.receiver.receive(m);
    channel.onDrain = () => this.writer.channelDrained();
    channel.onClose = (err) => this.channelClosed(err);
    // Grant the peer the session credit above the protocol's initial window at once.
    this.writer.checkSessionUpdate();
    this.keepalive.start();
  }

  get streamCount(): number {
    return this.streams.size;
  }
  get isClosed(): boolean {
    return this.phase === Phase.Closed;
  }
  /** Smoothed RTT in ms from ping/pong (0 until the first pong). */
  get rtt(): number {
    return this.keepalive.rtt;
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
    if (this.phase !== Phase.Open) refusal = new MuxError('SESSION_CLOSED', 'session is closed');
    else if (this.receiver.goAwayReceived) refusal = new MuxError('GOING_AWAY', 'peer sent GO_AWAY: no new streams');
    else if (this.streams.size >= this.config.maxStreams) refusal = new MuxError('TOO_MANY_STREAMS', `maxStreams (${this.config.maxStreams}) reached`);
    else if (this.streams.exhausted) refusal = new MuxError('GOING_AWAY', 'stream ids exhausted');
    if (refusal) {
      const s = new Stream(this.streamHost, 0, meta, null); // id 0, no OPEN: nothing goes on the wire
      const err = refusal;
      process.nextTick(() => s._close(err));
      return s;
    }
    const s = new Stream(this.streamHost, this.streams.nextId(), meta, encoded);
    this.streams.add(s);
    if (firstData && firstData.length > 0) s.write(firstData);
    return s;
  }

  /** The peer may open no new streams from now on; existing ones go on. */
  goAway(code: number = GoAwayCode.NORMAL): void {
    if (this.phase !== Phase.Open || this.goAwaySent) return;
    this.goAwaySent = true;
    this.writer.queueControl(FrameType.GO_AWAY, 0, code >>> 0);
  }

  /**
   * Authenticated close: unfinished streams end with SESSION_CLOSED, a CLOSE frame is sent and
   * the channel half-closed. `onClose()` follows without error once the peer's CLOSE arrives.
   */
  close(): void {
    if (this.phase !== Phase.Open) return;
    this.phase = Phase.Closing;
    this.writer.queueClose();
    this.failStreams(new MuxError('SESSION_CLOSED', 'session closed locally'));
    this.writer.flush();
    this.channel.end();
    // A peer that never answers CLOSE (but keeps the link alive) must not hold the session.
    setTimeout(() => this.destroy(new MuxError('KEEPALIVE_TIMEOUT', 'peer did not answer CLOSE')), this.config.keepaliveTimeoutMs).unref();
  }

  /** Tears everything down at once; every open stream errors. */
  destroy(error?: Error): void {
    if (this.phase === Phase.Closed) return;
    const err = error instanceof MuxError ? error : new MuxError('DESTROYED', error ? `session destroyed: ${error.message}` : 'session destroyed', { cause: error });
    this.fail(err);
  }

  /** Round-trip time in ms, measured with PING/PONG (the frames keepalive uses). */
  ping(): Promise<number> {
    if (this.phase !== Phase.Open) return Promise.reject(new MuxError('SESSION_CLOSED', 'session is closed'));
    return this.keepalive.ping();
  }

  // ---- streams ----------------------------------------------------------------------------------

  /** A stream the peer opened, to the user's hook. */
  private deliver(s: Stream): void {
    try {
      this.onStream(s);
    } catch (err) {
      // The consumer's failure costs this stream only, never the session or the process.
      this.log.error({ event: 'mux.stream_handler_error', err, stream: s.id }, 'mux: onStream handler threw; stream reset');
      s.reset(ResetCode.INTERNAL, err as Error);
    }
  }

  /** A stream's consumer took `n` bytes: session credit may go back. */
  private streamConsumed(n: number, wasBuffered: boolean): void {
    if (wasBuffered) this.recv.release(n);
    this.writer.checkSessionUpdate();
  }

  private resetStream(s: Stream, code: number): void {
    if (this.streams.get(s.id) !== s) return;
    this.detach(s);
    if (!s._openPending && this.phase === Phase.Open) this.writer.queueControl(FrameType.RST, s.id, code >>> 0);
  }

  /** Both directions finished cleanly. */
  private streamDone(s: Stream): void {
    this.detach(s);
    s._close();
  }

  /** Removes a stream from the session and gives back the session credit its buffer held. */
  private detach(s: Stream): void {
    this.streams.delete(s.id);
    const held = s.readableLength;
    if (held > 0) {
      this.recv.release(held);
      this.writer.checkSessionUpdate();
    }
  }

  // ---- the end (docs/protocol.md "End of a session") -------------------------------------------

  /** The peer's CLOSE: unfinished streams fail, and our CLOSE answers it. */
  private peerClosed(): void {
    this.failStreams(new MuxError('SESSION_CLOSED', 'peer closed the session'));
    if (this.phase === Phase.Open) {
      this.phase = Phase.Closing;
      this.writer.queueClose();
      this.writer.flush();
      this.channel.end();
    }
  }

  private channelClosed(err?: Error): void {
    if (this.phase === Phase.Closed) return;
    if (this.receiver.closeReceived) {
      this.finish();
      return;
    }
    this.fail(new MuxError('CONNECTION_LOST', err ? `connection lost: ${err.message}` : 'connection closed without the authenticated close', { cause: err }), false);
  }

  private failStreams(err: MuxError): void {
    if (this.streams.size === 0) return;
    const all = this.streams.takeAll();
    this.recv.buffered = 0;
    for (const s of all) s._close(err);
  }

  /** Ends the session with `err`: streams error, pings reject, the channel is torn down. */
  private fail(err: MuxError, destroyChannel = true): false {
    if (this.phase === Phase.Closed) return false;
    const level = err.code === 'CONNECTION_LOST' || err.code === 'DESTROYED' ? 'info' : 'warn';
    this.log[level]({ event: 'mux.session_error', code: err.code, reason: err.message, streams: this.streams.size }, `mux: session ended: ${err.code}`);
    this.phase = Phase.Closed;
    this.teardown(err);
    if (destroyChannel) this.channel.destroy(err);
    this.onClose(err);
    return false;
  }

  /** The clean end: both CLOSEs exchanged and the channel finished. */
  private finish(): void {
    this.phase = Phase.Closed;
    this.log.debug({ event: 'mux.session_closed' }, 'mux: session closed');
    this.teardown(new MuxError('SESSION_CLOSED', 'session closed'));
    this.onClose();
  }

  private teardown(err: MuxError): void {
    this.peerLog.flush();
    this.writer.stop();
    this.receiver.stop();
    this.failStreams(err);
    this.keepalive.stop(err);
  }
}
