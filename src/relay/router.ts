import { isWildcard } from '../net/index.js';

/**
 * Host-name routing: exact names and wildcards (`*.example.com`, one or more labels in place of
 * the star). The most specific match wins: an exact name, then the wildcard with the longest
 * suffix. Each name has a pool of backends; `pick` takes the one with the fewest open streams,
 * rotating among ties so that equal agents share the load (round-robin when idle).
 */
export interface Backend { readonly streamCount: number }

export class Pool<B extends Backend> {
  readonly members: B[] = [];
  private next = 0;

  add(b: B): void { if (!this.members.includes(b)) this.members.push(b); }
  remove(b: B): void {
    const i = this.members.indexOf(b);
    if (i >= 0) this.members.splice(i, 1);
  }
  get size(): number { return this.members.length; }

  /** Least streams among the members `eligible` accepts; ties broken round-robin. Undefined when none. */
  pick(eligible?: (b: B) => boolean): B | undefined {
    const n = this.members.length;
    if (n === 0) return undefined;
    let best: B | undefined;
    const start = this.next % n;
    for (let k = 0; k < n; k++) {
      const b = this.members[(start + k) % n];
      if ((best === undefined || b.streamCount < best.streamCount) && (eligible === undefined || eligible(b))) best = b;
    }
    if (best !== undefined) this.next = (this.members.indexOf(best) + 1) % n;
    return best;
  }
}

/** Whether `name` (lower-case, no trailing dot) matches `pattern` (exact or `*.suffix`). */
export function matchesPattern(pattern: string, name: string): boolean {
  if (!isWildcard(pattern)) return pattern === name;
  const suffix = pattern.slice(1); // ".example.com"
  return name.length > suffix.length && name.endsWith(suffix);
}

export class HostRouter<B extends Backend> {
  private readonly exact = new Map<string, Pool<B>>();
  private readonly wildcards = new Map<string, Pool<B>>(); // key: ".example.com"

  /** The pool for a pattern, created on demand. */
  pool(pattern: string): Pool<B> {
    const [map, key] = this.slot(pattern);
    let p = map.get(key);
    if (!p) { p = new Pool<B>(); map.set(key, p); }
    return p;
  }

  add(pattern: string, b: B): void { this.pool(pattern).add(b); }

  /** The pool of exactly this pattern, if it has one (no lookup, nothing created). */
  get(pattern: string): Pool<B> | undefined {
    const [map, key] = this.slot(pattern);
    return map.get(key);
  }

  remove(pattern: string, b: B): void {
    const [map, key] = this.slot(pattern);
    const p = map.get(key);
    if (!p) return;
    p.remove(b);
    if (p.size === 0) map.delete(key);
  }

  /** The pool that serves `name`, most specific first; undefined when nothing matches. */
  lookup(name: string): Pool<B> | undefined {
    const e = this.exact.get(name);
    if (e) return e;
    // Walk suffixes from the longest: a.b.example.com → .b.example.com, .example.com, .com
    for (let i = name.indexOf('.'); i >= 0; i = name.indexOf('.', i + 1)) {
      const p = this.wildcards.get(name.slice(i));
      if (p) return p;
    }
    return undefined;
  }

  /** Every pattern with its pool, for status reports. */
  entries(): Array<[string, Pool<B>]> {
    return [...this.exact.entries(), ...[...this.wildcards.entries()].map(([k, v]) => [`*${k}`, v] as [string, Pool<B>])];
  }

  private slot(pattern: string): [Map<string, Pool<B>>, string] {
    return isWildcard(pattern) ? [this.wildcards, pattern.slice(1)] : [this.exact, pattern];
  }
}
