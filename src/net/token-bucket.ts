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
    if (!this.peek()) return false;
    this.tokens--;
    return true;
  }

  /** Whether a token is there now, without spending it. */
  peek(): boolean {
    this.refill();
    return this.tokens >= 1;
  }

  /** Whether the bucket is full: it then holds nothing a fresh one would not, and can be forgotten. */
  get full(): boolean {
    this.refill();
    return this.tokens >= this.burst;
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.ratePerSecond) / 1000);
    this.last = t;
  }
}

/**
 * Token buckets by key (a source address, an agent key and a tunnel), bounded: a bucket that has
 * filled up again is forgotten (a fresh one is the same), and past `maxKeys` the oldest is
 * dropped, which only ever errs towards letting a connection through. Memory is set by
 * `maxKeys`, never by how many addresses a flood comes from.
 */
export class RateTable {
  private readonly buckets = new Map<string, TokenBucket>();
  private lastSweep: number;

  constructor(readonly ratePerSecond: number, readonly burst: number, readonly maxKeys = 65_536, private readonly now: () => number = () => performance.now()) {
    this.lastSweep = now();
  }

  /** Whether `key` has a token now (nothing spent). */
  peek(key: string): boolean {
    return this.buckets.get(key)?.peek() ?? true;
  }

  /** Spends one of `key`'s tokens; false when it has none. */
  take(key: string): boolean {
    let b = this.buckets.get(key);
    if (b === undefined) {
      this.sweep();
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
      b = new TokenBucket(this.ratePerSecond, this.burst, this.now);
      this.buckets.set(key, b);
    }
    return b.take();
  }

  get size(): number { return this.buckets.size; }

  /** Forgets full buckets, at most once per refill time of a whole burst. */
  private sweep(): void {
    const t = this.now();
    if (t - this.lastSweep < (this.burst * 1000) / this.ratePerSecond) return;
    this.lastSweep = t;
    for (const [k, b] of this.buckets) if (b.full) this.buckets.delete(k);
  }
}

/**
 * A byte budget refilled at `bytesPerSecond` (burst: one second's worth), shared by every
 * connection of a tunnel. Spending may run it into debt; `spend` says how long the spender
 * should pause its reading for the debt to be paid, so bandwidth is capped by backpressure,
 * never by dropping or buffering.
 */
export class ByteThrottle {
  private tokens: number;
  private last: number;

  constructor(readonly bytesPerSecond: number, private readonly now: () => number = () => performance.now()) {
    this.tokens = bytesPerSecond;
    this.last = now();
  }

  /** Spends `n` bytes; returns the milliseconds to pause (0: none). */
  spend(n: number): number {
    const t = this.now();
    this.tokens = Math.min(this.bytesPerSecond, this.tokens + ((t - this.last) * this.bytesPerSecond) / 1000) - n;
    this.last = t;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.bytesPerSecond);
  }
}
