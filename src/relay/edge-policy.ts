import { ByteThrottle, CidrList, RateTable, addressKey } from '../net/index.js';
import type { TunnelBackend } from './agent-session.js';
import type { AgentGrant, EdgeLimits } from './config.js';

/**
 * Who may connect, and how fast (README "Edge policy"): the relay-wide limits, each
 * `[[agents]]` entry's as a cap on that key's tunnels, and the agent's own narrowing sent with
 * each tunnel (allow/deny only). Built whole from one config and replaced whole on reload, so a
 * connection is judged by one config, never by half of two. Rate state starts afresh on reload.
 */
export class EdgePolicy {
  private readonly ipRates: RateTable | null;
  private readonly byKey = new Map<string, KeyLimits>();
  private readonly defaults: KeyLimits;

  constructor(readonly relay: EdgeLimits, grants: readonly AgentGrant[]) {
    this.ipRates = table(relay.connRatePerIp);
    this.defaults = new KeyLimits(EMPTY, EMPTY, null, table(relay.connRatePerTunnel), relay.bandwidthPerTunnel ?? 0);
    for (const g of grants) {
      this.byKey.set(g.key, new KeyLimits(g.allow ?? EMPTY, g.deny ?? EMPTY, table(g.connRatePerIp),
        g.connRatePerTunnel !== undefined ? table(g.connRatePerTunnel) : this.defaults.tunnelRates,
        g.bandwidthPerTunnel ?? relay.bandwidthPerTunnel ?? 0));
    }
  }

  /** The relay-wide address rule: checked at accept, before a byte is read. */
  admitsSource(ip: string): boolean {
    return admits(this.relay.allow ?? EMPTY, this.relay.deny ?? EMPTY, ip);
  }

  /** Spends one of the address's relay-wide connection tokens; false: over the rate. */
  takeIpToken(ip: string): boolean {
    return this.ipRates?.take(addressKey(ip)) ?? true;
  }

  /** Whether the address may reach this tunnel of this agent: its key's rule and the agent's own. */
  admitsTo(b: TunnelBackend, ip: string): boolean {
    const k = this.limitsOf(b.agent.key);
    return admits(k.allow, k.deny, ip) && admits(b.allow, b.deny, ip);
  }

  /** Whether a connection from `ip` to `b` is within the rates (nothing spent). */
  hasTokens(b: TunnelBackend, ip: string): boolean {
    const k = this.limitsOf(b.agent.key);
    return (k.ipRates?.peek(`${b.agent.key}|${addressKey(ip)}`) ?? true) && (k.tunnelRates?.peek(tunnelOf(b)) ?? true);
  }

  /** Spends the tokens of a connection from `ip` admitted to `b`. */
  takeTokens(b: TunnelBackend, ip: string): void {
    const k = this.limitsOf(b.agent.key);
    k.ipRates?.take(`${b.agent.key}|${addressKey(ip)}`);
    k.tunnelRates?.take(tunnelOf(b));
  }

  /** Both directions' budgets of the tunnel; undefined: no cap. */
  throttlesOf(b: TunnelBackend): { in: ByteThrottle; out: ByteThrottle } | undefined {
    const k = this.limitsOf(b.agent.key);
    if (k.bandwidth <= 0) return undefined;
    const id = tunnelOf(b);
    let t = k.throttles.get(id);
    if (t === undefined) { t = { in: new ByteThrottle(k.bandwidth), out: new ByteThrottle(k.bandwidth) }; k.throttles.set(id, t); }
    return t;
  }

  /** A tunnel of a key left the relay: its byte budget goes with it (a returning one starts full). */
  forget(b: TunnelBackend): void {
    this.limitsOf(b.agent.key).throttles.delete(tunnelOf(b));
  }

  private limitsOf(key: string): KeyLimits {
    return this.byKey.get(key) ?? this.defaults;
  }
}

const EMPTY = new CidrList([]);

class KeyLimits {
  /** Per tunnel of this key: the byte budgets, bounded by the tunnels registered. */
  readonly throttles = new Map<string, { in: ByteThrottle; out: ByteThrottle }>();
  constructor(readonly allow: CidrList, readonly deny: CidrList, readonly ipRates: RateTable | null, readonly tunnelRates: RateTable | null, readonly bandwidth: number) {}
}

/** In no deny block, and in an allow block when there are any. */
function admits(allow: CidrList, deny: CidrList, ip: string): boolean {
  return !deny.has(ip) && (allow.size === 0 || allow.has(ip));
}

/** Connections per second as a bucket table (burst: one second's worth, at least one). */
function table(rate: number | undefined): RateTable | null {
  return rate !== undefined && rate > 0 ? new RateTable(rate, Math.max(1, Math.ceil(rate))) : null;
}

function tunnelOf(b: TunnelBackend): string {
  return `${b.agent.key}|${b.key}`;
}
