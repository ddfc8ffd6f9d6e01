/**
 * The last `capacity` one-second samples of a time series, oldest first: a fixed ring, so a
 * chart's history costs the same after a minute and after a month.
 */
export class SampleRing<T> {
  private readonly items: T[] = [];
  private start = 0;

  constructor(readonly capacity: number) {}

  push(item: T): void {
    if (this.items.length < this.capacity) { this.items.push(item); return; }
    this.items[this.start] = item;
    this.start = (this.start + 1) % this.capacity;
  }

  /** Oldest first, without a copy. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.items.length; i++) yield this.items[(this.start + i) % this.items.length];
  }

  /** Oldest first. */
  toArray(): T[] {
    return [...this.items.slice(this.start), ...this.items.slice(0, this.start)];
  }
}
