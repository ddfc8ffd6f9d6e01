import net from 'node:net';
import type http from 'node:http';
import type { Logger } from '../log.js';
import { encodeKey, type KeyPair } from '../crypto/keys.js';
import type { MuxConfig } from '../mux/index.js';
import { createLinkServer } from '../link/index.js';
import { CidrList, type HostPort, type PortRange, listen } from '../net/index.js';
import { createAdminServer } from './admin.js';
import { Dashboard, type Totals } from './dashboard.js';
import { AgentLink } from './agent-link.js';
import { resourceKey } from './agent-session.js';
import type { AgentGrant, EdgeLimits } from './config.js';
import { EdgePolicy } from './edge-policy.js';
import { FrontDoor, REFUSE_REASONS, type FrontDoorLimits } from './front-door.js';
import { TUNNEL_ERROR_CODES, type WorkerInfo } from '../control/index.js';
import type { LeaseBook } from './leases.js';
import { Metrics } from './metrics.js';
import { TunnelRegistry } from './registry.js';

/** What a config reload may change (README "Reload"); the rest needs a restart. */
export interface ReloadableOptions extends Partial<EdgeLimits> {
  allowAnyAgent: boolean;
  grants: AgentGrant[];
  clientHelloTimeoutMs?: number;
  /** Close a public connection idle this long in both directions (0: never). */
  idleTimeoutMs?: number;
  /** Close a public connection that carried no byte either way this long after accept (default 30 000 ms; 0: never). */
  firstByteTimeoutMs?: number;
  /** Open public connections per tunnel (default 0: no limit). */
  maxConnsPerTunnel?: number;
  /** Open public connections per source address (default 2048: half an agent session's streams; 0: no limit). */
  maxConnsPerIp?: number;
  /** Public connections per source address still sending their ClientHello (default 128; 0: no limit). */
  maxPendingPerIp?: number;
  /** Balancers whose connections start with a PROXY protocol header (default: none). */
  proxyProtocolFrom?: CidrList;
  /** The bearer token the admin listener requires (all but /healthz); undefined: none. */
  adminToken?: string;
}

export interface RelayOptions extends ReloadableOptions {
  staticKey: KeyPair;
  /** Public TLS/SNI listener; null: none. */
  tlsListen: HostPort | null;
  agentListen: HostPort;
  adminListen: HostPort | null;
  /** Public ports for TCP tunnels; null: TCP tunnels are refused. */
  tcpPorts: PortRange | null;
  /** Address the TCP tunnel ports bind to (default: the TLS listener's host, else 0.0.0.0). */
  tcpHost?: string;
  /** Host name shown to agents in URLs and addresses (default: the TLS listener's host). */
  publicHost?: string;
  drainTimeoutMs?: number;
  leaseMs?: number;
  handshakeTimeoutMs?: number;
  /**
   * A session whose key the relay does not know lives only to hear why: it is ended this long
   * after it opens, whether it registers or not (default 10 000 ms).
   */
  unknownAgentTimeoutMs?: number;
  /** Agent sessions at once, authorized or not (default 4096; 0: no limit). */
  maxAgentSessions?: number;
  /** Bytes queued for agents across all sessions before public sockets stop being read (default 128 MiB). */
  maxQueuedBytes?: number;
  /** Sessions of unknown keys at once (default 64): each only hears why it is refused. */
  maxUnknownAgentSessions?: number;
  /** Deadline of an admin HTTP request, and of an admin connection that sends nothing (default 10 000 ms). */
  adminTimeoutMs?: number;
  mux?: Partial<MuxConfig>;
  logger: Logger;
  /** A cluster worker's: the leases the primary keeps, and its place among the workers. */
  leaseBook?: LeaseBook;
  worker?: WorkerInfo;
}

/** Half of an agent session's streams (mux maxStreams 4096): one address can never take them all. */
const DEFAULT_MAX_CONNS_PER_IP = 2048;
/**
 * Unfinished ClientHellos per address: a slowloris holds thousands. A burst of honest
 * connections is pending all at once too, until the loop reads their hellos: 32 refused 68 of
 * 2000 connections opened 100 at a time from one address (peer-bench's idle scenario); 128 none.
 */
const DEFAULT_MAX_PENDING_PER_IP = 128;
const DEFAULT_MAX_AGENT_SESSIONS = 4096;
const NO_CIDRS = new CidrList([]);

function frontDoorLimits(o: ReloadableOptions): FrontDoorLimits {
  return {
    clientHelloTimeoutMs: o.clientHelloTimeoutMs ?? 10_000,
    idleTimeoutMs: o.idleTimeoutMs ?? 0,
    firstByteTimeoutMs: o.firstByteTimeoutMs ?? 30_000,
    maxConnsPerIp: o.maxConnsPerIp ?? DEFAULT_MAX_CONNS_PER_IP,
    maxConnsPerTunnel: o.maxConnsPerTunnel ?? 0,
    maxPendingPerIp: o.maxPendingPerIp ?? DEFAULT_MAX_PENDING_PER_IP,
  };
}

function edgePolicy(o: ReloadableOptions): EdgePolicy {
  return new EdgePolicy({
    allow: o.allow ?? NO_CIDRS, deny: o.deny ?? NO_CIDRS, connRatePerIp: o.connRatePerIp, connRatePerTunnel: o.connRatePerTunnel, bandwidthPerTunnel: o.bandwidthPerTunnel,
  }, o.grants);
}

/** How an agent connection can fail before its session (NoiseResponder's codes). */
const HANDSHAKE_FAILURE_CODES = ['TIMEOUT', 'HANDSHAKE_FAILED', 'REPLAY', 'TOO_MANY_PENDING', 'GARBAGE', 'VERSION_MISMATCH', 'SUITE_UNSUPPORTED'] as const;

/**
 * The relay: its listeners (public TLS, TCP tunnel ports, agents, admin) and the parts behind
 * them: the front door (front-door.ts), the agent link (agent-link.ts) and the tunnel registry
 * (registry.ts); plus status, drain and shutdown.
 */
export class RelayServer {
  readonly metrics = new Metrics();
  readonly publicKey: string;
  addresses: { tls: string | null; agent: string; admin: string | null } = { tls: null, agent: '', admin: null };
  private readonly registry: TunnelRegistry;
  private readonly frontDoor: FrontDoor;
  private policy: EdgePolicy;
  /** What reloads change; the rest of `opts` is fixed at start. */
  private current: ReloadableOptions;
  private readonly agentLink: AgentLink;
  private readonly log: Logger;
  private tlsServer: net.Server | null = null;
  private agentServer: net.Server | null = null;
  private adminServer: http.Server | null = null;
  private dashboard: Dashboard | null = null;
  private tlsPort: number | null = null;

  constructor(private readonly opts: RelayOptions) {
    this.log = opts.logger;
    this.current = opts;
    this.publicKey = encodeKey(opts.staticKey.publicKey);
    const tlsHost = opts.tlsListen?.host;
    this.registry = new TunnelRegistry({
      grants: opts.grants,
      allowAnyAgent: opts.allowAnyAgent,
      leaseMs: opts.leaseMs ?? 10 * 60_000,
      tcpPorts: opts.tcpPorts,
      tcpHost: opts.tcpHost ?? tlsHost ?? '0.0.0.0',
      publicHost: opts.publicHost ?? (tlsHost !== undefined && tlsHost !== '0.0.0.0' && tlsHost !== '::' ? tlsHost : 'localhost'),
      tlsPort: () => this.tlsPort,
      onTcpConnection: (tunnel, socket) => this.frontDoor.onTcpConnection(tunnel, socket),
      onTunnelGone: (t) => this.policy.forget(t),
      leaseBook: opts.leaseBook,
      logger: this.log,
    });
    this.policy = edgePolicy(opts);
    this.frontDoor = new FrontDoor({
      registry: this.registry,
      metrics: this.metrics,
      logger: this.log,
      limits: frontDoorLimits(opts),
      policy: this.policy,
      proxyProtocolFrom: opts.proxyProtocolFrom ?? NO_CIDRS,
    });
    this.agentLink = new AgentLink({
      staticKey: opts.staticKey,
      registry: this.registry,
      metrics: this.metrics,
      logger: this.log,
      handshakeTimeoutMs: opts.handshakeTimeoutMs,
      unknownAgentTimeoutMs: opts.unknownAgentTimeoutMs ?? 10_000,
      maxSessions: opts.maxAgentSessions ?? DEFAULT_MAX_AGENT_SESSIONS,
      maxUnknownSessions: opts.maxUnknownAgentSessions ?? 64,
      maxQueuedBytes: opts.maxQueuedBytes ?? 128 * 1024 * 1024,
      mux: opts.mux,
      worker: opts.worker,
    });
    const m = this.metrics;
    const each = <K extends string>(label: K, values: readonly string[]) => values.map((v) => ({ [label]: v }) as Record<K, string>);
    m.counter('relay_public_connections_total', 'Public connections accepted, by listener type', each('type', ['tls', 'tcp']));
    m.counter('relay_public_refused_total', 'Public connections refused, by reason', each('reason', REFUSE_REASONS));
    m.counter('relay_agent_handshakes_failed_total', 'Agent connections that failed before a session, by code', each('code', HANDSHAKE_FAILURE_CODES));
    m.counter('relay_agent_sessions_refused_total', 'Authenticated agent sessions closed at once, over a session limit, by reason', each('reason', ['too_many_sessions', 'too_many_unknown']));
    m.counter('relay_tunnel_errors_total', 'Tunnel registrations refused, by code', each('code', TUNNEL_ERROR_CODES));
    m.counter('relay_admin_refused_total', 'Admin requests refused for their credentials', each('reason', ['unauthorized']));
    m.counter('relay_bytes_total', 'Bytes spliced, by direction (in: from public clients)', each('direction', ['in', 'out']));
    m.describe('relay_agent_sessions', 'Live agent sessions');
    m.describe('relay_public_open', 'Open public connections');
    m.gauge('relay_agent_sessions', () => this.agentLink.authorizedCount);
    m.gauge('relay_public_open', () => this.frontDoor.sockets.size);
    m.describe('relay_queued_bytes', 'Bytes queued for agents, all connections together (bounded by --max-queued-bytes)');
    m.gauge('relay_queued_bytes', () => this.agentLink.queuedBytes);
  }

  /** Binds every listener; resolves with the real addresses (port 0 gets one from the OS). */
  async start(): Promise<void> {
    const o = this.opts;
    this.agentServer = createLinkServer((s) => this.agentLink.onConnection(s));
    this.addresses.agent = await listen(this.agentServer, o.agentListen);
    if (o.tlsListen) {
      this.tlsServer = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.frontDoor.onTlsConnection(s));
      this.addresses.tls = await listen(this.tlsServer, o.tlsListen);
      this.tlsPort = (this.tlsServer.address() as net.AddressInfo).port;
    }
    if (o.adminListen) {
      const log = this.log.child({ part: 'admin' });
      this.dashboard = new Dashboard({ totals: () => new Map([['self', this.totals()]]), status: () => this.status(), logger: log });
      this.adminServer = createAdminServer({
        healthy: () => !this.frontDoor.draining, status: () => this.status(), metrics: () => this.metrics.render(),
        token: () => this.current.adminToken,
        onRefused: (reason) => this.metrics.inc('relay_admin_refused_total', { reason }),
        dashboard: this.dashboard,
      }, log, o.adminTimeoutMs);
      this.dashboard.start();
      this.addresses.admin = await listen(this.adminServer, o.adminListen);
    }
  }

  /**
   * This process's counters for the dashboard: connections accepted, refusals by reason, and
   * bytes spliced each way, those of open connections included.
   */
  totals(): Totals {
    const m = this.metrics;
    let bytesIn = m.get('relay_bytes_total', { direction: 'in' });
    let bytesOut = m.get('relay_bytes_total', { direction: 'out' });
    for (const { pool } of this.registry.tunnels()) {
      for (const b of pool.members) for (const s of b.streams) { bytesIn += s.bytesWritten; bytesOut += s.bytesRead; }
    }
    const refused: Record<string, number> = {};
    for (const reason of REFUSE_REASONS) {
      const n = m.get('relay_public_refused_total', { reason });
      if (n > 0) refused[reason] = n;
    }
    return { connections: m.get('relay_public_connections_total', { type: 'tls' }) + m.get('relay_public_connections_total', { type: 'tcp' }), bytesIn, bytesOut, refused };
  }

  /** The JSON of `GET /api/tunnels` (README "Admin HTTP"). */
  status(): unknown {
    return {
      publicKey: this.publicKey,
      draining: this.frontDoor.draining,
      agents: this.agentLink.authorizedCount,
      limits: {
        ...this.frontDoor.settings,
        maxAgentSessions: this.opts.maxAgentSessions ?? DEFAULT_MAX_AGENT_SESSIONS,
        maxQueuedBytes: this.opts.maxQueuedBytes ?? 128 * 1024 * 1024,
        allow: this.policy.relay.allow ?? NO_CIDRS, deny: this.policy.relay.deny ?? NO_CIDRS,
        connRatePerIp: this.policy.relay.connRatePerIp ?? 0, connRatePerTunnel: this.policy.relay.connRatePerTunnel ?? 0, bandwidthPerTunnel: this.policy.relay.bandwidthPerTunnel ?? 0,
      },
      tunnels: this.registry.tunnels().map(({ resource, pool }) => ({
        ...(resource.type === 'tls' ? { type: 'tls', hostname: resource.hostname } : { type: 'tcp', port: resource.port }),
        connections: this.frontDoor.connectionsOf(resourceKey(resource)),
        agents: pool.members.map((b) => ({
          name: b.agent.name, key: b.agent.key, remote: b.agent.remote, streams: b.streamCount,
          ...(b.allow.size > 0 ? { allow: b.allow } : {}), ...(b.deny.size > 0 ? { deny: b.deny } : {}),
        })),
      })),
      bytes: { in: this.metrics.get('relay_bytes_total', { direction: 'in' }), out: this.metrics.get('relay_bytes_total', { direction: 'out' }) },
      sessions: [...this.agentLink.sessions].filter((a) => a.authorized && !a.closed).map((a) => ({
        name: a.name, key: a.key, remote: a.remote, cipher: a.cipher, since: new Date(a.since).toISOString(), streams: a.session.streamCount, tunnels: a.tunnels.size,
      })),
    };
  }

  /**
   * Applies a reloaded config (SIGHUP): grants, address rules, rates and limits. New connections
   * are judged by it at once; every live agent session is looked at again: tunnels no longer
   * granted are revoked, tunnels refused before and granted now go live, and the agent hears of
   * both (an `update` on its control stream). No session is closed. Returns what changed.
   */
  async reload(next: ReloadableOptions): Promise<{ revoked: number; granted: number }> {
    this.current = next;
    this.policy = edgePolicy(next);
    this.registry.setGrants(next.grants, next.allowAnyAgent);
    this.frontDoor.reconfigure(frontDoorLimits(next), this.policy, next.proxyProtocolFrom ?? NO_CIDRS);
    return this.agentLink.reconsiderAll();
  }

  /**
   * Graceful drain (SIGTERM): stop accepting, tell agents no new streams will come (GO_AWAY),
   * let open public connections finish up to `drainTimeoutMs`, then close everything.
   */
  async drain(): Promise<void> {
    const door = this.frontDoor;
    if (door.draining) return;
    door.draining = true;
    this.log.info({ event: 'relay.draining', open: door.sockets.size }, 'draining');
    for (const s of [this.tlsServer, this.agentServer, ...this.registry.portServers()]) s?.close();
    this.agentLink.goAwayAll();
    // One timer and one callback for the last close, nothing added per socket.
    if (door.sockets.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.opts.drainTimeoutMs ?? 30_000);
        function done(): void { clearTimeout(timer); resolve(); }
        door.onIdle = done;
      });
      door.onIdle = null;
    }
    await this.close();
  }

  /** Closes every listener, connection and session at once (agents get the authenticated close). */
  async close(): Promise<void> {
    this.frontDoor.draining = true;
    for (const s of this.frontDoor.sockets) s.destroy();
    const cancelGrace = this.agentLink.closeAll();
    const servers = [this.tlsServer, this.agentServer, this.adminServer, ...this.registry.portServers()];
    this.dashboard?.stop();
    this.adminServer?.closeAllConnections();
    await Promise.all(servers.filter((s) => s !== null).map((s) => new Promise<void>((r) => s.close(() => r()))));
    cancelGrace();
    this.registry.close();
  }
}
