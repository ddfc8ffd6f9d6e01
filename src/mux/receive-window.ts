import { INITIAL_WINDOW } from './frame.js';

/**
 * Receive credit, counted as yamux counts it (docs/protocol.md "Flow control"). One instance
 * per stream and one for the session; only their thresholds differ.
 *
 * - `window`: credit the peer has left, i.e. bytes it may still send before our next
 *   WINDOW_UPDATE. Every peer starts with the protocol's INITIAL_WINDOW.
 * - `buffered`: bytes received and not yet consumed.
 * - `max`: what we allow outstanding in total, unconsumed bytes included.
 *
 * Credit comes back when the consumer takes bytes, not when they arrive:
 * `delta = (max - buffered) - window` is what a WINDOW_UPDATE would grant, and it is sent only
 * once it reaches the threshold (yamux omits smaller updates: fewer frames, same throughput).
 */
export class ReceiveWindow {
  window = INITIAL_WINDOW;
  buffered = 0;

  /**
   * The threshold is `max / divisor`, capped at `cap` (for the session: max / 4 or 1 MiB,
   * whichever is smaller; for a stream: max / 2, which follows `max` as auto-tuning grows it).
   */
  constructor(
    public max: number,
    private readonly divisor: number,
    private readonly cap = Infinity,
  ) {}

  /** The peer sent `n` bytes. False, and nothing taken, when that is beyond its credit. */
  take(n: number): boolean {
    if (n > this.window) return false;
    this.window -= n;
    return true;
  }

  /** `n` of the bytes taken wait unconsumed (they still count against `max`). */
  hold(n: number): void {
    this.buffered += n;
  }

  /** `n` held bytes were consumed or dropped: their credit may go back. */
  release(n: number): void {
    this.buffered -= n;
  }

  /** The credit a WINDOW_UPDATE would grant now (0 or less: none). */
  delta(): number {
    return this.max - this.buffered - this.window;
  }

  /** A WINDOW_UPDATE is worth sending: delta has reached the threshold. */
  due(): boolean {
    const delta = this.delta();
    return delta > 0 && delta >= Math.min(this.max / this.divisor, this.cap);
  }

  /** Grants delta for the WINDOW_UPDATE about to be sent; 0 when nothing is owed. */
  grant(): number {
    const delta = this.delta();
    if (delta <= 0) return 0;
    this.window += delta;
    return delta;
  }
}
