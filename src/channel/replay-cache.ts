/**
 * Per initiator static key, the newest first-message timestamp of a *confirmed* handshake
 * (WireGuard's replay rule). Bounded: the least recently confirmed key is forgotten first; a
 * forgotten key's old first message is still harmless, since it can never complete key confirmation.
 */
export class ReplayCache {
  private readonly newest = new Map<string, Buffer>();
  constructor(readonly maxEntries: number) {}

  /** True when `timestamp` is newer than every confirmed one for this key. */
  isFresh(key: string, timestamp: Buffer): boolean {
    const seen = this.newest.get(key);
    return seen === undefined || Buffer.compare(timestamp, seen) > 0;
  }

  /** Records a confirmed handshake; keeps the newer of the stored and the given timestamp. */
  confirm(key: string, timestamp: Buffer): void {
    const seen = this.newest.get(key);
    this.newest.delete(key);
    this.newest.set(key, seen !== undefined && Buffer.compare(seen, timestamp) > 0 ? seen : Buffer.from(timestamp));
    if (this.newest.size > this.maxEntries) this.newest.delete(this.newest.keys().next().value!);
  }

  get size(): number { return this.newest.size; }
}
