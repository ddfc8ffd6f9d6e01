/**
 * Reconnect delays: the first retries are fast (a relay restart should cost a user little), then
 * exponential with full jitter (AWS architecture blog, "Exponential Backoff And Jitter") up to a
 * cap, so that many agents do not reconnect in lockstep after a relay restart.
 */
export interface BackoffOptions { firstMs?: number; capMs?: number; random?: () => number }

export class Backoff {
  private attempt = 0;
  private readonly firstMs: number;
  private readonly capMs: number;
  private readonly random: () => number;

  constructor(opts: BackoffOptions = {}) {
    this.firstMs = opts.firstMs ?? 100;
    this.capMs = opts.capMs ?? 30_000;
    this.random = opts.random ?? Math.random;
  }

  /** The delay before the next attempt. */
  next(): number {
    const ceiling = Math.min(this.capMs, this.firstMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    // Half fixed, half jitter: never zero, never above the ceiling.
    return Math.round(ceiling / 2 + this.random() * (ceiling / 2));
  }

  /** A session that stayed up resets the schedule. */
  reset(): void { this.attempt = 0; }
}
