import type { AgentGrant } from './config.js';
import { isWildcard } from '../net/index.js';
import { matchesPattern } from './router.js';

/**
 * Which agent key may claim which names and ports (relay config `[[agents]]`). In development
 * mode (`--allow-any-agent`) every key may claim anything not held by another key; leases
 * (leases.ts) decide that part.
 */
export class Authorizer {
  private readonly byKey: Map<string, AgentGrant>;
  constructor(grants: AgentGrant[], readonly allowAny: boolean) {
    this.byKey = new Map(grants.map((g) => [g.key, g]));
  }

  /** The configured name of an agent key, for logs. */
  agentName(key: string): string | undefined { return this.byKey.get(key)?.name; }

  /** May this key connect at all? */
  knows(key: string): boolean { return this.allowAny || this.byKey.has(key); }

  /** Explicitly granted (config), as opposed to first come, first served. */
  granted(key: string, host: string): boolean {
    const g = this.byKey.get(key);
    if (!g) return false;
    return g.hosts.some((p) => p === host || (isWildcard(p) && (matchesPattern(p, host) || (isWildcard(host) && matchesPattern(p, host.slice(2))))));
  }

  mayClaimHost(key: string, host: string): boolean { return this.allowAny || this.granted(key, host); }

  grantedPort(key: string, port: number): boolean {
    const g = this.byKey.get(key);
    return !!g && g.ports.some((r) => port >= r.from && port <= r.to);
  }

  mayClaimPort(key: string, port: number): boolean { return this.allowAny || this.grantedPort(key, port); }
}
