/**
 * Leases bind a claimed resource (a host name or a TCP port) to the agent key that holds it, and
 * keep it for that key for `leaseMs` after its last session goes away, so a reconnecting agent
 * gets its names and ports back and no other key can take them meanwhile. A key that the config
 * explicitly grants a resource may always share it (several agents serving one name).
 */
interface Holding { live: number; expiresAt: number }

export type TakeRule = 'free' | 'mine' | 'granted';

/**
 * The leases as the registry uses them: in one process the Leases below; in a cluster's worker
 * the primary's, over IPC (cluster/lease-client.ts). Answers are asynchronous either way.
 */
export interface LeaseBook {
  take(resource: string, key: string, rule: TakeRule): Promise<boolean>;
  /** Whether `key` could take `resource` now under `rule` (nothing taken). */
  mayTake(resource: string, key: string, granted: boolean): Promise<boolean>;
  release(resource: string, key: string): void;
  drop(resource: string, key: string): void;
}

/** Leases in this process. */
export class LocalLeaseBook implements LeaseBook {
  constructor(readonly leases: Leases) {}
  take(resource: string, key: string, rule: TakeRule): Promise<boolean> { return Promise.resolve(this.leases.take(resource, key, rule)); }
  mayTake(resource: string, key: string, granted: boolean): Promise<boolean> { return Promise.resolve(this.leases.mayTake(resource, key, granted)); }
  release(resource: string, key: string): void { this.leases.release(resource, key); }
  drop(resource: string, key: string): void { this.leases.drop(resource, key); }
}

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

  /**
   * Takes `resource` for `key` if `rule` allows, in one step (a cluster's workers ask the
   * primary this, so that two of them never both give one name or port away): `free`, nobody
   * holds it (a port picked from the range); `mine`, nobody but `key` holds it; `granted`, the
   * config grants it to `key` explicitly (shared as a pool).
   */
  take(resource: string, key: string, rule: TakeRule): boolean {
    const ok = rule === 'granted' || (rule === 'mine' ? this.otherHolders(resource, key).length === 0 : !this.isHeld(resource));
    if (ok) this.acquire(resource, key);
    return ok;
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
