import { performance } from 'node:perf_hooks';
import type { MessageChannel } from '../channel/message-channel.js';
import { FramePacker, FrameType, INITIAL_WINDOW, MAX_WINDOW, PING_PAYLOAD_SIZE } from './frame.js';
import type { ReceiveWindow } from './receive-window.js';
import type { Stream } from './stream.js';

/** Largest data run one stream packs before the next ready stream gets its turn (fairness). */
const QUANTUM = 32 * 1024;
/** Control bytes we write while the socket is backed up before we stop reading the peer. */
const CONTROL_BACKLOG_LIMIT = 1024 * 1024;

/** A queued RST, GO_AWAY, PING or CLOSE. */
interface Control {
  type: number;
  id: number;
  value: number;
  payload: Buffer | null;
}

/**
 * Everything a session sends, packed into channel messages (docs/protocol.md "Packing"), in
 * the manner of ws's Sender. Frames queued during one event-loop turn leave together at its
 * end (setImmediate), corked into one socket write. Each flush packs, in this order: the
 * session WINDOW_UPDATE, the PONG, the control queue, stream WINDOW_UPDATEs, then data
 * round-robin over the ready streams while the socket takes it.
 */
export class Writer {
  /** Credit the peer granted the whole session (docs/protocol.md "Flow control"). */
  private sendWindow = INITIAL_WINDOW;
  private readonly packer: FramePacker;
  /** Streams with something to send, served from `readyHead` on (a queue without shifts). */
  private ready: Stream[] = [];
  private readyHead = 0;
  private readonly control: Control[] = [];
  /** Only the latest PING is answered: a flood costs one PONG per flush. */
  private pendingPong: Buffer | null = null;
  private readonly pendingUpdates: Stream[] = [];
  private sessionUpdatePending = false;
  /** Streams whose `onDrain` is due once this flush is done. */
  private drained: Stream[] = [];
  private flushScheduled = false;
  /** The channel's socket is above its high-water mark: data waits for its drain. */
  private blocked = false;
  private blockedControlBytes = 0;
  private readPaused = false;
  /** CLOSE is queued: streams get no more turns. */
  private closing = false;
  /** CLOSE is written: nothing may follow it. */
  private closeWritten = false;
  /** The session is over: nothing more goes out. */
  private stopped = false;

  /**
   * `recv` is the session's receive credit (its WINDOW_UPDATE is written here); the keepalive's
   * round-trip estimate is read for the stream windows' auto-tuning.
   */
  constructor(
    private readonly channel: MessageChannel,
    private readonly recv: ReceiveWindow,
    private readonly keepalive: { readonly rtt: number },
  ) {
    this.packer = new FramePacker(channel.maxMessageSize);
  }

  /** Gives `s` a turn in the round robin; false once CLOSE is queued (no more data). */
  schedule(s: Stream): boolean {
    if (this.closing || this.stopped) return false;
    this.ready.push(s);
    this.scheduleFlush();
    return true;
  }

  /** `s` owes the peer a WINDOW_UPDATE (it computes the increment when the flush asks). */
  queueWindowUpdate(s: Stream): void {
    this.pendingUpdates.push(s);
    this.scheduleFlush();
  }

  /** Queues the session WINDOW_UPDATE if the session's credit makes one due. */
  checkSessionUpdate(): void {
    if (this.sessionUpdatePending || !this.recv.due()) return;
    this.sessionUpdatePending = true;
    this.scheduleFlush();
  }

  /** The peer's session WINDOW_UPDATE; false when it would overflow the window. */
  addSendCredit(increment: number): boolean {
    if (this.sendWindow + increment > MAX_WINDOW) return false;
    const was = this.sendWindow;
    this.sendWindow += increment;
    if (was === 0 && this.readyHead < this.ready.length) this.scheduleFlush();
    return true;
  }

  /** An RST, GO_AWAY (u32 `value`) or PING (`payload`). */
  queueControl(type: number, id: number, value: number, payload: Buffer | null = null): void {
    this.control.push({ type, id, value, payload });
    this.scheduleFlush();
  }

  /** Answers a PING (docs/protocol.md "Keepalive"). */
  queuePong(ping: Buffer): void {
    if (this.pendingPong === null) this.scheduleFlush();
    this.pendingPong = Buffer.from(ping);
  }

  /** Queues CLOSE, the session's last frame: streams get no more turns. */
  queueClose(): void {
    this.closing = true;
    this.ready.length = 0;
    this.readyHead = 0;
    this.queueControl(FrameType.CLOSE, 0, 0);
  }

  /** The session is over: drops everything queued; nothing more is sent. */
  stop(): void {
    this.stopped = true;
    this.ready.length = 0;
    this.readyHead = 0;
    this.control.length = 0;
    this.pendingUpdates.length = 0;
  }

  /** The channel's socket drained: data may flow again, and we read the peer again. */
  channelDrained(): void {
    this.blocked = false;
    this.blockedControlBytes = 0;
    if (this.readPaused) {
      this.readPaused = false;
      this.channel.resume();
    }
    if (this.readyHead < this.ready.length) this.scheduleFlush();
  }

  /** Packs and sends what is queued (normally at the end of the turn; the session's close flushes at once). */
  flush(): void {
    this.flushScheduled = false;
    if (this.stopped || this.closeWritten) return;
    // Every message of this flush leaves in one socket write (writev): fewer syscalls.
    const ch = this.channel;
    ch.cork?.();
    try {
      this.pack();
    } finally {
      ch.uncork?.();
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.stopped) return;
    this.flushScheduled = true;
    // End of the current I/O turn: every socket read of this poll phase gets packed together.
    setImmediate(flushWriter, this);
  }

  private sendMessage(): void {
    const m = this.packer.take();
    if (m.length === 0) return;
    if (!this.channel.send(m)) this.blocked = true;
  }

  private pack(): void {
    const p = this.packer;
    const wasBlocked = this.blocked;
    const startLength = p.length;
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
      } else p.putU32(c.type, c.id, c.value);
    }
    ctl.length = 0;
    const ups = this.pendingUpdates;
    if (ups.length > 0) {
      const now = performance.now();
      const rtt = this.keepalive.rtt;
      for (let i = 0; i < ups.length; i++) {
        const s = ups[i];
        const delta = s._grantWindowUpdate(now, rtt);
        if (delta === 0) continue;
        if (p.room() < 4) this.sendMessage();
        p.putU32(FrameType.WINDOW_UPDATE, s.id, delta);
      }
      ups.length = 0;
    }
    const controlBytes = p.length - startLength;
    // 2. Data, round-robin over ready streams, while the channel takes it.
    if (!this.blocked && !this.closeWritten) this.packData();
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

  private packData(): void {
    const p = this.packer;
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
}

function flushWriter(w: Writer): void {
  w.flush();
}
