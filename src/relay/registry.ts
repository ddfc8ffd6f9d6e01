import net from 'node:net';
import type { Logger } from '../log.js';
import { MAX_TUNNELS_PER_AGENT, type TunnelRefusal, type TunnelRequest, type TunnelResult } from '../control/index.js';
import { ResetCode } from '../mux/index.js';
import { formatHostPort, type PortRange, listen } from '../net/index.js';
import { Authorizer } from './authz.js';
import { Leases, LocalLeaseBook, type LeaseBook } from './leases.js';
import { HostRouter, Pool } from './router.js';
import { TunnelBackend, resourceKey, type AgentSession, type Resource } from './agent-session.js';
import type { AgentGrant } from './config.js';

/** A listening TCP tunnel port and the agents behind it. */
export interface PortTunnel { port: number; server: net.Server; pool: Pool<TunnelBackend> }

export interface RegistryOptions {
  grants: AgentGrant[];
  allowAnyAgent: boolean;
  leaseMs: number;
  /** Public ports for TCP tunnels; null: TCP tunnels are refused. */
  tcpPorts: PortRange | null;
  /** Address the TCP tunnel ports bind to. */
  tcpHost: string;
  /** Host name shown to agents in URLs and addresses. */
  publicHost: string;
  /** The TLS listener's port once bound; null: no TLS listener, TLS tunnels are refused. */
  tlsPort: () => number | null;
  /** A public connection on a TCP tunnel port (the front door takes it). */
  onTcpConnection: (tunnel: PortTunnel, socket: net.Socket) => void;
  /** The leases, when another process keeps them (a cluster's primary); default: this process's own. */
  leaseBook?: LeaseBook;
  /** A tunnel left its pool (its session ended, or it was revoked). */
  onTunnelGone?: (t: TunnelBackend) => void;
  logger: Logger;
}

type Refusal = { code: string; message: string };

/** Refusals a config reload may turn around: the request is kept and asked again (README "Reload"). */
const RECONSIDERED = new Set(['UNAUTHORIZED_KEY', 'NOT_AUTHORIZED', 'IN_USE', 'NO_TCP_PORTS', 'NO_FREE_PORT', 'PORT_UNAVAILABLE']);

/**
 * What is served where: host names and TCP ports, each with a pool of agent sessions, granted
 * by the config (authz.ts) and held across reconnects by leases (leases.ts). Binds a tunnel
 * port when it is first claimed.
 */
export class TunnelRegistry {
  readonly router = new HostRouter<TunnelBackend>();
  readonly ports = new Map<number, PortTunnel>();
  authz: Authorizer;
  private readonly leases: LeaseBook;
  /** Port → the (agent key, tunnel id) it was last given to, so a reconnect gets it back. Bounded by the ports bound. */
  private readonly portGivenTo = new Map<number, string>();
  private readonly log: Logger;
  private readonly expiry: NodeJS.Timeout | null;

  constructor(private readonly opts: RegistryOptions) {
    this.authz = new Authorizer(opts.grants, opts.allowAnyAgent);
    this.log = opts.logger;
    if (opts.leaseBook) {
      this.leases = opts.leaseBook;
      this.expiry = null;
    } else {
      const own = new Leases(opts.leaseMs);
      this.leases = new LocalLeaseBook(own);
      this.expiry = expireLeases(own, opts.leaseMs, this.log);
    }
  }

  /** Stops the lease timer (shutdown). */
  close(): void {
    if (this.expiry) clearInterval(this.expiry);
  }

  /** Answers a register request, tunnel by tunnel: one refusal never costs the others. */
  async register(agent: AgentSession, requests: Array<TunnelRequest | TunnelRefusal>): Promise<TunnelResult[]> {
    const out: TunnelResult[] = [];
    for (const req of requests) {
      let r: TunnelResult;
      try {
        r = 'refused' in req ? { id: req.id, ok: false, ...req.refused } : await this.registerOne(agent, req);
      } catch (e) {
        r = { id: req.id, ok: false, code: 'INTERNAL', message: (e as Error).message };
      }
      if (!r.ok && !('refused' in req) && RECONSIDERED.has(r.code) && agent.tunnels.size + agent.refused.size < MAX_TUNNELS_PER_AGENT) agent.refused.set(req.id, req);
      out.push(r);
    }
    return out;
  }

  /** New grants (a config reload): later checks use them; `reconsider` applies them to a session. */
  setGrants(grants: AgentGrant[], allowAnyAgent: boolean): void {
    this.authz = new Authorizer(grants, allowAnyAgent);
  }

  /**
   * Applies the grants in force to one live session: each tunnel no longer granted is revoked
   * (out of its pool, its public connections reset, its lease dropped), and each tunnel asked
   * for and refused earlier is asked again. Returns what changed, as results for an `update`.
   */
  async reconsider(agent: AgentSession): Promise<TunnelResult[]> {
    const out: TunnelResult[] = [];
    for (const t of [...agent.tunnels.values()]) {
      const why = await this.notGranted(agent, t);
      if (why === null) continue;
      this.revoke(agent, t);
      out.push({ id: t.tunnelId, ok: false, code: 'REVOKED', message: why });
    }
    for (const req of [...agent.refused.values()]) {
      if (agent.closed || !this.authz.knows(agent.key)) break;
      if (out.some((r) => r.id === req.id)) continue; // revoked just now: not granted back in the same breath
      const r = await this.registerOne(agent, req).catch((e: Error): TunnelResult => ({ id: req.id, ok: false, code: 'INTERNAL', message: e.message }));
      if (!r.ok) continue;
      agent.refused.delete(req.id);
      out.push(r);
    }
    return out;
  }

  /** Why a live tunnel is no longer granted under the config in force, or null. */
  private async notGranted(agent: AgentSession, t: TunnelBackend): Promise<string | null> {
    const key = agent.key;
    if (!this.authz.knows(key)) return 'the agent key is no longer in the relay config';
    if (t.resource.type === 'tls') {
      const host = t.resource.hostname;
      if (!this.authz.mayClaimHost(key, host)) return `this agent key may no longer claim ${host}`;
      if (!(await this.leases.mayTake(t.key, key, this.authz.granted(key, host)))) return `${host} is now granted to another agent`;
      return null;
    }
    const p = t.resource.port;
    const range = this.opts.tcpPorts;
    const inRange = range !== null && p >= range.from && p <= range.to;
    if ((!inRange && !this.authz.grantedPort(key, p)) || !this.authz.mayClaimPort(key, p)) return `this agent key may no longer claim port ${p}`;
    if (!(await this.leases.mayTake(t.key, key, this.authz.grantedPort(key, p)))) return `port ${p} is now granted to another agent`;
    return null;
  }

  private revoke(agent: AgentSession, t: TunnelBackend): void {
    this.leave(agent, t);
    this.leases.drop(t.key, agent.key);
    agent.tunnels.delete(t.tunnelId);
    agent.refused.set(t.tunnelId, t.request);
    const why = new Error('tunnel revoked by the relay config');
    for (const s of [...t.streams]) s.reset(ResetCode.CANCEL, why);
  }

  /** One tunnel leaves its pool, and its lease starts to run. */
  private leave(agent: AgentSession, t: TunnelBackend): void {
    this.leases.release(t.key, agent.key);
    let pool: Pool<TunnelBackend> | undefined;
    if (t.resource.type === 'tls') {
      this.router.remove(t.resource.hostname, t);
      pool = this.router.get(t.resource.hostname);
    } else {
      pool = this.ports.get(t.resource.port)?.pool;
      pool?.remove(t);
    }
    // What the key's tunnel shares (its byte budget) goes with the last of its sessions.
    if (!pool?.members.some((m) => m.agent.key === agent.key)) this.opts.onTunnelGone?.(t);
  }

  /** The session is gone: its tunnels leave their pools, and their leases start to run. */
  unregisterAll(agent: AgentSession): void {
    for (const t of agent.tunnels.values()) this.leave(agent, t);
    agent.tunnels.clear();
    agent.refused.clear();
  }

  private async registerOne(agent: AgentSession, req: TunnelRequest): Promise<TunnelResult> {
    const refuse = (code: string, message: string): TunnelResult => ({ id: req.id, ok: false, code, message });
    if (!agent.authorized || !this.authz.knows(agent.key)) return refuse('UNAUTHORIZED_KEY', `agent key ${agent.key} is not authorized on this relay (add it to the relay config's [[agents]], or run the relay with --allow-any-agent)`);
    if (agent.tunnels.has(req.id)) return refuse('DUPLICATE', `tunnel ${req.id} is already registered on this session`);
    if (agent.tunnels.size >= MAX_TUNNELS_PER_AGENT) return refuse('TOO_MANY_TUNNELS', `at most ${MAX_TUNNELS_PER_AGENT} tunnels per agent session`);
    if (req.type === 'tls') {
      const tlsPort = this.opts.tlsPort();
      if (tlsPort === null) return refuse('NO_TLS_LISTENER', 'this relay has no TLS listener');
      const host = req.hostname;
      if (!this.authz.mayClaimHost(agent.key, host)) return refuse('NOT_AUTHORIZED', `this agent key may not claim ${host}`);
      const t = new TunnelBackend(agent, req, { type: 'tls', hostname: host });
      if (!(await this.leases.take(t.key, agent.key, this.authz.granted(agent.key, host) ? 'granted' : 'mine'))) return refuse('IN_USE', `${host} is held by another agent`);
      if (agent.closed) { this.leases.release(t.key, agent.key); return refuse('CLOSED', 'session closed'); }
      this.router.add(host, t);
      agent.tunnels.set(req.id, t);
      const url = `https://${host}${tlsPort === 443 ? '' : `:${tlsPort}`}/`;
      return { id: req.id, ok: true, type: 'tls', hostname: host, url };
    }
    const port = await this.claimPort(agent, req); // with its lease taken
    if (typeof port !== 'number') return { id: req.id, ok: false, ...port };
    const t = new TunnelBackend(agent, req, { type: 'tcp', port });
    if (agent.closed) { this.leases.release(t.key, agent.key); return refuse('CLOSED', 'session closed'); }
    this.ports.get(port)!.pool.add(t);
    agent.tunnels.set(req.id, t);
    this.portGivenTo.set(port, `${agent.key}/${req.id}`);
    return { id: req.id, ok: true, type: 'tcp', port, address: formatHostPort(this.opts.publicHost, port) };
  }

  /** Finds (and binds, if needed) the public port for a TCP tunnel, and takes its lease. */
  private async claimPort(agent: AgentSession, req: { id: string; port: number }): Promise<number | Refusal> {
    const range = this.opts.tcpPorts;
    const key = agent.key;
    const portKey = (p: number): string => resourceKey({ type: 'tcp', port: p });
    if (req.port !== 0) {
      const p = req.port;
      const inRange = range !== null && p >= range.from && p <= range.to;
      if (!inRange && !this.authz.grantedPort(key, p)) return { code: 'NOT_AUTHORIZED', message: `port ${p} is outside this relay's TCP port range${range ? ` ${range.from}-${range.to}` : ''}` };
      if (!this.authz.mayClaimPort(key, p)) return { code: 'NOT_AUTHORIZED', message: `this agent key may not claim port ${p}` };
      if (!(await this.leases.take(portKey(p), key, this.authz.grantedPort(key, p) ? 'granted' : 'mine'))) return { code: 'IN_USE', message: `port ${p} is held by another agent` };
      if (await this.bindPort(p)) return p;
      this.leases.release(portKey(p), key);
      return { code: 'PORT_UNAVAILABLE', message: `port ${p} cannot be bound on the relay` };
    }
    if (!range) return { code: 'NO_TCP_PORTS', message: 'this relay has no TCP port range (relay serve --tcp-ports)' };
    const who = `${key}/${req.id}`;
    let previous: number | undefined;
    for (const [p, w] of this.portGivenTo) if (w === who) { previous = p; break; }
    if (previous !== undefined && (await this.leases.take(portKey(previous), key, 'mine'))) {
      if (await this.bindPort(previous)) return previous;
      this.leases.release(portKey(previous), key);
    }
    for (let p = range.from; p <= range.to; p++) {
      if (!this.authz.mayClaimPort(key, p) || !(await this.leases.take(portKey(p), key, 'free'))) continue;
      if (await this.bindPort(p)) return p;
      this.leases.release(portKey(p), key);
    }
    return { code: 'NO_FREE_PORT', message: 'no free port left in the relay\'s TCP range' };
  }

  /** Listens on a tunnel port (once); false when the OS refuses it. */
  private async bindPort(port: number): Promise<boolean> {
    if (this.ports.has(port)) return true;
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.opts.onTcpConnection(tunnel, s));
    const tunnel: PortTunnel = { port, server, pool: new Pool() };
    try {
      await listen(server, { host: this.opts.tcpHost, port });
    } catch (e) {
      this.log.warn({ event: 'tunnel.port_unavailable', port, err: (e as Error).message }, 'cannot bind TCP tunnel port');
      return false;
    }
    if (this.ports.has(port)) { server.close(); return true; } // raced with another claim
    this.ports.set(port, tunnel);
    return true;
  }

  /** Every tunnel with its pool, for status reports. */
  tunnels(): Array<{ resource: Resource; pool: Pool<TunnelBackend> }> {
    return [
      ...this.router.entries().map(([hostname, pool]) => ({ resource: { type: 'tls' as const, hostname }, pool })),
      ...[...this.ports.values()].filter((t) => t.pool.size > 0).map((t) => ({ resource: { type: 'tcp' as const, port: t.port }, pool: t.pool })),
    ];
  }

  /** The TCP tunnel listeners, for drain and shutdown. */
  portServers(): net.Server[] {
    return [...this.ports.values()].map((t) => t.server);
  }
}

/** Forgets expired leases on a timer (a name nobody asks for again must not stay forever). */
export function expireLeases(leases: Leases, leaseMs: number, log: Logger): NodeJS.Timeout {
  const timer = setInterval(() => {
    const expired = leases.expire();
    if (expired > 0) log.info({ event: 'lease.expired', count: expired, kept: leases.size }, `${expired} leases expired`);
  }, Math.max(10, Math.min(leaseMs, 60_000)));
  timer.unref();
  return timer;
}
