import { performance } from 'node:perf_hooks';
import { MuxError } from './errors.js';
import { PING_PAYLOAD_SIZE } from './frame.js';

/** What the keepalive needs from its session. */
export interface KeepaliveHost {
  /** Queues a PING frame carrying `payload`. */
  sendPing(payload: Buffer): void;
  /** Our CLOSE is queued: no more keepalive pings (the session's close deadline runs instead). */
  closing(): boolean;
  /** Nothing heard from the peer for too long: the session ends with `err`. */
  timedOut(err: MuxError): void;
}

interface PendingPing {
  sentAt: number;
  resolve: (rtt: number) => void;
  reject: (err: Error) => void;
}

const noop = (): void => {};

/**
 * Proves the peer alive and measures the round trip (docs/protocol.md "Keepalive"). One PING
 * at start (the first RTT sample, for window auto-tuning), then one per keepaliveIntervalMs
 * while the previous one has been answered; when nothing at all arrives for
 * keepaliveTimeoutMs the session ends. Any message counts as a sign of life, not only PONGs:
 * a peer busy sending data may answer late.
 */
export class Keepalive {
  /** Smoothed RTT in ms (0 until the first PONG). */
  rtt = 0;
  private lastHeardAt = performance.now();
  private readonly pings = new Map<number, PendingPing>();
  private counter = 0;
  /** The keepalive's own PING in flight (0: none): one at a time. */
  private outstanding = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly host: KeepaliveHost,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
  ) {}

  start(): void {
    this.outstanding = this.send(noop, noop);
    this.arm(this.intervalMs);
  }

  /** A message arrived from the peer. */
  heard(): void {
    this.lastHeardAt = performance.now();
  }

  /** Sends a PING; resolves with the round trip in ms. */
  ping(): Promise<number> {
    return new Promise((resolve, reject) => void this.send(resolve, reject));
  }

  /** The payload of a PONG (its size already checked). */
  pong(payload: Buffer): void {
    const n = payload.readUInt32BE(4);
    const p = this.pings.get(n);
    if (p === undefined) return; // unsolicited or late: harmless
    this.pings.delete(n);
    const sample = performance.now() - p.sentAt;
    this.rtt = this.rtt === 0 ? sample : this.rtt * 0.875 + sample * 0.125;
    if (n === this.outstanding) this.outstanding = 0;
    p.resolve(sample);
  }

  /** The session is over: no more pings; those in flight reject with `err`. */
  stop(err: Error): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const p of this.pings.values()) p.reject(err);
    this.pings.clear();
  }

  /** @internal The timer fired. */
  tick(): void {
    this.timer = null;
    if (this.stopped) return;
    const silent = performance.now() - this.lastHeardAt;
    if (silent >= this.timeoutMs) {
      this.host.timedOut(new MuxError('KEEPALIVE_TIMEOUT', `nothing heard from the peer for ${Math.round(silent)} ms`));
      return;
    }
    if (!this.host.closing() && this.outstanding === 0) this.outstanding = this.send(noop, noop);
    this.arm(Math.max(1, Math.min(this.intervalMs, this.timeoutMs - silent)));
  }

  private arm(ms: number): void {
    this.timer = setTimeout(keepaliveTick, ms, this);
    this.timer.unref();
  }

  /** Queues a PING numbered in its last four bytes (the rest of its 8 are opaque zeros). */
  private send(resolve: (rtt: number) => void, reject: (err: Error) => void): number {
    let n = ++this.counter;
    if (n > 0xffffffff) n = this.counter = 1;
    const payload = Buffer.alloc(PING_PAYLOAD_SIZE);
    payload.writeUInt32BE(n, 4);
    this.host.sendPing(payload);
    this.pings.set(n, { sentAt: performance.now(), resolve, reject });
    return n;
  }
}

function keepaliveTick(k: Keepalive): void {
  k.tick();
}
