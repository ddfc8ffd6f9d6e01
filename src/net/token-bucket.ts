/**
 * A token bucket: `ratePerSecond` tokens a second, at most `burst` saved up. `take()` spends one
 * if there is one. Time comes from `now` (milliseconds), so that tests need no clock of their own.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(readonly ratePerSecond: number, readonly burst = ratePerSecond, private readonly now: () => number = () => performance.now()) {
    this.tokens = burst;
    this.last = now();
  }

  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.ratePerSecond) / 1000);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}
