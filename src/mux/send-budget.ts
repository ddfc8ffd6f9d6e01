/** A stream that wrote past a spent budget and waits for room. */
export interface BudgetWaiter {
  _budgetFreed(): void;
}

/**
 * Bytes queued for sending across every stream that shares this budget: one session's, or every
 * session of a relay or an agent, so that memory is bounded for the whole process and not only
 * per stream. Once `max` bytes are queued, `write()` reports backpressure (false) whatever the
 * stream's own queue holds; as soon as the writer has sent the total below `max`, the streams that
 * waited are drained (on the next turn, never from inside a flush). Waking them only further down
 * could strand them: streams that get no credit may hold the rest of the budget for good. A stream overshoots by at
 * most the one chunk it was writing, so the bound is `max` plus one chunk per writing stream.
 */
export class SendBudget {
  /** Bytes written to the streams and not yet packed into frames. */
  queued = 0;
  private readonly waiting = new Set<BudgetWaiter>();
  private notifying = false;

  constructor(readonly max: number) {
    if (!Number.isSafeInteger(max) || max <= 0) throw new RangeError(`send budget must be a positive integer, got ${max}`);
  }

  get spent(): boolean {
    return this.queued >= this.max;
  }

  add(n: number): void {
    this.queued += n;
  }

  /** `n` queued bytes left (packed, or dropped with their stream). */
  release(n: number): void {
    this.queued -= n;
    if (!this.notifying && this.waiting.size > 0 && this.queued < this.max) {
      this.notifying = true;
      setImmediate(notifyWaiting, this);
    }
  }

  wait(w: BudgetWaiter): void {
    this.waiting.add(w);
  }

  forget(w: BudgetWaiter): void {
    this.waiting.delete(w);
  }

  /** @internal */
  _notify(): void {
    this.notifying = false;
    for (const w of this.waiting) {
      if (this.spent) return; // refilled meanwhile: the rest wait for the next release
      this.waiting.delete(w);
      w._budgetFreed();
    }
  }
}

function notifyWaiting(b: SendBudget): void {
  b._notify();
}
