/**
 * Leases bind a claimed resource (a host name or a TCP port) to the agent key that holds it, and
 * keep it for that key for `leaseMs` after its last session goes away, so a reconnecting agent
 * gets its names and ports back and no other key can take them meanwhile. A key that the config
 * explicitly grants a resource may always share it (several agents serving one name).
 */
interface Holding { live: number; expiresAt: number }

export class Leases {
  private readonly held = new Map<string, Map<string, Holding>>();

  constructor(private readonly leaseMs: number, private readonly now: () => number = Date.now) {}

  /** The keys other than `key` that hold `resource` now (live, or leased and unexpired). */
  otherHolders(resource: string, key: string): string[] {
    const m = this.held.get(resource);
    if (!m) return [];
    const t = this.now();
    const out: string[] = [];
    for (const [k, h] of m) {
      if (h.live === 0 && h.expiresAt <= t) { m.delete(k); continue; }
      if (k !== key) out.push(k);
    }
    if (m.size === 0) this.held.delete(resource);
    return out;
  }

  /** Whether any key holds `resource`. */
  isHeld(resource: string): boolean {
    return this.otherHolders(resource, '').length > 0;
  }

  /** Whether `key` may take `resource`: nobody else holds it, or the config grants it explicitly. */
  mayTake(resource: string, key: string, explicitlyGranted: boolean): boolean {
    return explicitlyGranted || this.otherHolders(resource, key).length === 0;
  }

  /** One more live session of `key` serves `resource`. */
  acquire(resource: string, key: string): void {
    let m = this.held.get(resource);
    if (!m) { m = new Map(); this.held.set(resource, m); }
    const h = m.get(key);
    if (h) { h.live++; h.expiresAt = Infinity; } else m.set(key, { live: 1, expiresAt: Infinity });
  }

  /** A session of `key` stopped serving `resource`; the last one starts the lease clock. */
  release(resource: string, key: string): void {
    const h = this.held.get(resource)?.get(key);
    if (!h || h.live === 0) return;
    if (--h.live === 0) h.expiresAt = this.now() + this.leaseMs;
  }

  /** `key` gives `resource` up for good (its grant was revoked): no lease is kept, once no session of it serves the resource. */
  drop(resource: string, key: string): void {
    const m = this.held.get(resource);
    if (m?.get(key)?.live !== 0) return;
    m.delete(key);
    if (m.size === 0) this.held.delete(resource);
  }

  /** Holdings kept (live and leased): what the leases cost in memory. */
  get size(): number {
    let n = 0;
    for (const m of this.held.values()) n += m.size;
    return n;
  }

  /** Forgets every expired lease (run on a timer: a name nobody asks for again must not stay forever); returns how many. */
  expire(): number {
    const t = this.now();
    let n = 0;
    for (const [resource, m] of this.held) {
      for (const [k, h] of m) if (h.live === 0 && h.expiresAt <= t) { m.delete(k); n++; }
      if (m.size === 0) this.held.delete(resource);
    }
    return n;
  }

  /** Whether `key` holds `resource` live or under an unexpired lease. */
  holds(resource: string, key: string): boolean {
    const h = this.held.get(resource)?.get(key);
    return !!h && (h.live > 0 || h.expiresAt > this.now());
  }
}
