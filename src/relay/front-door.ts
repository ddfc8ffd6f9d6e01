import type net from 'node:net';
import type { Logger } from '../log.js';
import { readClientHello, unrecognizedNameAlert, SniError } from '../sni/index.js';
import { splice, type Stream } from '../mux/index.js';
import { addressKey, formatHostPort, type CidrList } from '../net/index.js';
import { readProxyHeader } from '../proxy-protocol/index.js';
import type { TunnelBackend } from './agent-session.js';
import type { EdgePolicy } from './edge-policy.js';
import type { Metrics } from './metrics.js';
import type { Pool } from './router.js';
import type { PortTunnel, TunnelRegistry } from './registry.js';

/** Reason codes for a refused public connection (metrics label, log field). */
export const REFUSE_REASONS = ['not_tls', 'no_sni', 'malformed', 'too_large', 'timeout', 'unknown_name', 'no_agent', 'per_ip_limit', 'per_tunnel_limit', 'draining', 'no_data',
  'ip_denied', 'rate_limited', 'pending_limit', 'proxy_header'] as const;
export type RefuseReason = (typeof REFUSE_REASONS)[number];

const SNI_REASON: Record<SniError['code'], RefuseReason> = {
  NOT_TLS: 'not_tls', NO_SNI: 'no_sni', MALFORMED: 'malformed', TOO_LARGE: 'too_large', TIMEOUT: 'timeout',
};

/** The limits a config reload may change (README "Edge policy", "Reload"). */
export interface FrontDoorLimits {
  clientHelloTimeoutMs: number;
  /** Close a public connection idle this long in both directions (0: never). */
  idleTimeoutMs: number;
  /** Close a public connection that has carried no byte either way this long after accept (0: never). */
  firstByteTimeoutMs: number;
  /** Open connections per source address, per tunnel (0: no limit). */
  maxConnsPerIp: number;
  maxConnsPerTunnel: number;
  /** Connections per source address still sending their ClientHello (0: no limit). */
  maxPendingPerIp: number;
}

export interface FrontDoorOptions {
  registry: TunnelRegistry;
  metrics: Metrics;
  logger: Logger;
  limits: FrontDoorLimits;
  policy: EdgePolicy;
  /** Balancers in front of the relay: their connections start with a PROXY protocol header. */
  proxyProtocolFrom: CidrList;
}

/**
 * A public connection as the policy sees it: the client's address and the address it reached,
 * from the socket, or from the PROXY protocol header of a trusted balancer. `key` is what
 * per-address limits count under (net/cidr.ts addressKey).
 */
interface Client { address: string; port: number; serverAddress: string; serverPort: number; key: string }

/** How a refusal ends the socket: a TLS alert, a plain close, or a TCP reset. */
type Ending = 'alert' | 'close' | 'reset';

/**
 * The public side's front door: accepts customers' TLS connections (routed by the ClientHello's
 * SNI) and TCP tunnel connections, applies the edge policy and the limits, refuses what it must
 * not or cannot serve, and splices each admitted connection onto a stream of an agent's session.
 * It never dials out.
 */
export class FrontDoor {
  /** Every admitted public socket, until it closes. */
  readonly sockets = new Set<net.Socket>();
  draining = false;
  /** Called when the last public socket closes (drain waits on it). */
  onIdle: (() => void) | null = null;
  private readonly perIp = new Map<string, number>();
  private readonly pendingPerIp = new Map<string, number>();
  private readonly perTunnel = new Map<string, number>();
  private readonly log: Logger;
  private limits: FrontDoorLimits;
  private policy: EdgePolicy;
  private proxyFrom: CidrList;

  constructor(private readonly opts: FrontDoorOptions) {
    this.log = opts.logger;
    this.limits = opts.limits;
    this.policy = opts.policy;
    this.proxyFrom = opts.proxyProtocolFrom;
  }

  /** The limits in force, for the status report. */
  get settings(): FrontDoorLimits & { proxyProtocolFrom: string[] } {
    return { ...this.limits, proxyProtocolFrom: this.proxyFrom.toJSON() };
  }

  /** A reloaded config: connections accepted from now on are judged by it; open ones go on. */
  reconfigure(limits: FrontDoorLimits, policy: EdgePolicy, proxyProtocolFrom: CidrList): void {
    this.limits = limits;
    this.policy = policy;
    this.proxyFrom = proxyProtocolFrom;
  }

  /** Open public connections of one tunnel (by its resource key). */
  connectionsOf(key: string): number {
    return this.perTunnel.get(key) ?? 0;
  }

  onTlsConnection(socket: net.Socket): void {
    this.accept(socket, 'tls', (client) => this.routeTls(socket, client));
  }

  onTcpConnection(tunnel: PortTunnel, socket: net.Socket): void {
    this.accept(socket, 'tcp', (client) => {
      const picked = this.choose(tunnel.pool, client);
      if (typeof picked === 'string') return this.refuse(socket, picked, client, { port: tunnel.port }, picked === 'no_agent' ? 'close' : 'reset');
      this.forward(socket, picked, client, undefined, undefined, undefined);
    });
  }

  /**
   * Every public socket: bookkeeping and timeouts, then the balancer's PROXY header when the
   * peer is a trusted balancer, then the address rules and limits; `next` gets an admitted client.
   */
  private accept(socket: net.Socket, type: 'tls' | 'tcp', next: (client: Client) => void): void {
    this.opts.metrics.inc('relay_public_connections_total', { type });
    const ending: Ending = type === 'tcp' ? 'reset' : 'close';
    if (this.draining) return this.refuse(socket, 'draining', peer(socket));
    let counted: string | undefined;
    let headerBytes = 0;
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => {}); // errors are handled by splice or by the close below
    socket.once('close', () => {
      this.sockets.delete(socket);
      if (this.sockets.size === 0) this.onIdle?.();
      if (counted !== undefined) decrement(this.perIp, counted);
    });
    this.armTimeouts(socket, () => headerBytes);
    const admit = (client: Client): void => {
      const { policy, limits } = this;
      if (!policy.admitsSource(client.address)) return this.refuse(socket, 'ip_denied', client, {}, ending);
      const n = this.perIp.get(client.key) ?? 0;
      if (limits.maxConnsPerIp > 0 && n >= limits.maxConnsPerIp) return this.refuse(socket, 'per_ip_limit', client);
      if (!policy.takeIpToken(client.address)) return this.refuse(socket, 'rate_limited', client, {}, ending);
      this.perIp.set(client.key, n + 1);
      counted = client.key;
      next(client);
    };
    if (!this.proxyFrom.has(socket.remoteAddress ?? '')) return admit(peer(socket));
    // docs/protocol.md "PROXY protocol from a balancer": the header's addresses stand for the peer's.
    readProxyHeader(socket, { timeoutMs: this.limits.clientHelloTimeoutMs }).then((h) => {
      if (socket.destroyed) return;
      headerBytes = socket.bytesRead - socket.readableLength; // what followed the header is back in the buffer
      const p = peer(socket);
      admit(h.source && h.destination
        ? { address: h.source.address, port: h.source.port, serverAddress: h.destination.address, serverPort: h.destination.port, key: addressKey(h.source.address) }
        : p); // LOCAL or UNKNOWN: the balancer's own connection (a health check)
    }, (err: Error) => {
      this.refuse(socket, 'proxy_header', peer(socket), { error: err.message });
    });
  }

  private routeTls(socket: net.Socket, client: Client): void {
    const max = this.limits.maxPendingPerIp;
    const pending = this.pendingPerIp.get(client.key) ?? 0;
    if (max > 0 && pending >= max) return this.refuse(socket, 'pending_limit', client);
    this.pendingPerIp.set(client.key, pending + 1);
    readClientHello(socket, { timeoutMs: this.limits.clientHelloTimeoutMs }).then((hello) => {
      decrement(this.pendingPerIp, client.key);
      if (socket.destroyed) return;
      const name = hello.serverName!;
      const pool = this.opts.registry.router.lookup(name);
      if (!pool) return this.refuse(socket, 'unknown_name', client, { sni: name }, 'alert');
      const picked = this.choose(pool, client);
      // A refused address hears nothing that would confirm the name: a close, no alert.
      if (typeof picked === 'string') return this.refuse(socket, picked, client, { sni: name }, picked === 'no_agent' ? 'alert' : 'close');
      this.forward(socket, picked, client, hello.bytes, name, hello.alpn);
    }, (err: unknown) => {
      decrement(this.pendingPerIp, client.key);
      if (!(err instanceof SniError)) {
        socket.destroy();
        this.log.error({ event: 'public.error', err }, 'ClientHello reader failed');
        return;
      }
      // A TLS alert only where the input was TLS (RFC 8446 §6.2); plain HTTP or garbage gets a close.
      this.refuse(socket, SNI_REASON[err.code], client, { error: err.message }, err.code === 'NO_SNI' ? 'alert' : 'close');
    });
  }

  /**
   * The pool member that takes a connection from `client`: among those whose address rules
   * admit it and whose rates have room, the one with the fewest streams. Else why none does.
   */
  private choose(pool: Pool<TunnelBackend>, client: Client): TunnelBackend | 'no_agent' | 'ip_denied' | 'rate_limited' {
    if (pool.size === 0) return 'no_agent';
    const { policy } = this;
    const ip = client.address;
    if (!pool.members.some((b) => policy.admitsTo(b, ip))) return 'ip_denied';
    const b = pool.pick((m) => policy.admitsTo(m, ip) && policy.hasTokens(m, ip));
    if (b === undefined) return 'rate_limited';
    policy.takeTokens(b, ip);
    return b;
  }

  /**
   * One socket timer (Node re-arms it on every read and write, nothing per chunk here): first the
   * first-byte deadline, so that a connection that never carries a byte cannot hold a stream of
   * an agent's session forever; then the idle timeout, if any. A balancer's PROXY header is not
   * a byte of the connection.
   */
  private armTimeouts(socket: net.Socket, headerBytes: () => number): void {
    const { firstByteTimeoutMs: first, idleTimeoutMs: idle } = this.limits;
    if (first === 0) {
      if (idle > 0) socket.setTimeout(idle, () => socket.destroy());
      return;
    }
    socket.setTimeout(first, () => {
      if (socket.bytesRead <= headerBytes() && socket.bytesWritten === 0) return this.refuse(socket, 'no_data', peer(socket), { afterMs: first });
      // Idle for `first` ms already: the idle timeout is due now, or after what remains of it.
      if (idle > 0 && idle <= first) return socket.destroy();
      socket.setTimeout(idle > 0 ? idle - first : 0, () => socket.destroy());
    });
  }

  private refuse(socket: net.Socket, reason: RefuseReason, client: Client, extra: Record<string, unknown> = {}, ending: Ending = 'close'): void {
    this.opts.metrics.inc('relay_public_refused_total', { reason });
    this.log.info({ event: 'public.refused', reason, client: formatHostPort(client.address, client.port), ...extra }, 'public connection refused');
    if (socket.destroyed) return;
    if (ending === 'reset') { socket.resetAndDestroy(); return; }
    if (ending === 'close') { socket.destroy(); return; }
    socket.end(unrecognizedNameAlert());
    // end() flushes the alert; a peer that never reads must not keep the socket.
    const timer = setTimeout(() => socket.destroy(), 2_000);
    socket.once('close', () => clearTimeout(timer));
  }

  /** Opens a stream on the agent's session and splices the customer's socket onto it. */
  private forward(socket: net.Socket, backend: TunnelBackend, client: Client, first: Buffer | undefined, serverName: string | undefined, alpn: string[] | undefined): void {
    const max = this.limits.maxConnsPerTunnel;
    const count = this.perTunnel.get(backend.key) ?? 0;
    const ending: Ending = serverName !== undefined ? 'alert' : 'close';
    if (max > 0 && count >= max) return this.refuse(socket, 'per_tunnel_limit', client, { tunnel: backend.key }, ending);
    let stream: Stream;
    try {
      stream = backend.agent.session.openStream({
        tunnelId: backend.tunnelId,
        clientAddress: client.address,
        clientPort: client.port,
        serverName,
        // Layout 2 only to an agent that reads it (control/messages.ts OPEN_META_VERSION).
        ...(backend.agent.openMeta >= 2 ? { serverAddress: client.serverAddress, serverPort: client.serverPort, alpn } : {}),
      }, first);
    } catch (err) {
      return this.refuse(socket, 'no_agent', client, { error: (err as Error).message }, ending);
    }
    this.perTunnel.set(backend.key, count + 1);
    backend.streams.add(stream);
    const throttle = this.policy.throttlesOf(backend);
    if (first !== undefined) throttle?.in.spend(first.length); // the ClientHello is the tunnel's bytes too
    splice(socket, stream, {
      throttle,
      onDone: (err) => {
        backend.streams.delete(stream);
        decrement(this.perTunnel, backend.key);
        this.opts.metrics.inc('relay_bytes_total', { direction: 'in' }, stream.bytesWritten);
        this.opts.metrics.inc('relay_bytes_total', { direction: 'out' }, stream.bytesRead);
        if (err) this.log.debug({ event: 'public.error', err: err.message, tunnel: backend.key }, 'public connection ended with an error');
      },
    });
  }
}

/** The client as the socket reports it. */
function peer(socket: net.Socket): Client {
  const address = socket.remoteAddress ?? '';
  return { address, port: socket.remotePort ?? 0, serverAddress: socket.localAddress ?? '', serverPort: socket.localPort ?? 0, key: addressKey(address) };
}

function decrement(counts: Map<string, number>, key: string): void {
  const left = (counts.get(key) ?? 1) - 1;
  if (left > 0) counts.set(key, left); else counts.delete(key);
}
