import type net from 'node:net';
import type { Logger } from '../log.js';
import { readClientHello, unrecognizedNameAlert, SniError } from '../sni/index.js';
import { splice, type Stream } from '../mux/index.js';
import type { TunnelBackend } from './agent-session.js';
import type { Metrics } from './metrics.js';
import type { PortTunnel, TunnelRegistry } from './registry.js';

/** Reason codes for a refused public connection (metrics label, log field). */
export const REFUSE_REASONS = ['not_tls', 'no_sni', 'malformed', 'too_large', 'timeout', 'unknown_name', 'no_agent', 'per_ip_limit', 'per_tunnel_limit', 'draining', 'no_data'] as const;
export type RefuseReason = (typeof REFUSE_REASONS)[number];

const SNI_REASON: Record<SniError['code'], RefuseReason> = {
  NOT_TLS: 'not_tls', NO_SNI: 'no_sni', MALFORMED: 'malformed', TOO_LARGE: 'too_large', TIMEOUT: 'timeout',
};

export interface FrontDoorOptions {
  registry: TunnelRegistry;
  metrics: Metrics;
  logger: Logger;
  clientHelloTimeoutMs: number;
  /** Close a public connection idle this long in both directions (0: never). */
  idleTimeoutMs: number;
  /** Close a public connection that has carried no byte either way this long after accept (0: never). */
  firstByteTimeoutMs: number;
  /** Open connections per source address, per tunnel (0: no limit). */
  maxConnsPerIp: number;
  maxConnsPerTunnel: number;
}

/**
 * The public side's front door: accepts customers' TLS connections (routed by the ClientHello's
 * SNI) and TCP tunnel connections, applies the limits, refuses what it cannot serve (a TLS
 * alert where the input was TLS), and splices each admitted connection onto a stream of an
 * agent's session. It never dials out.
 */
export class FrontDoor {
  /** Every admitted public socket, until it closes. */
  readonly sockets = new Set<net.Socket>();
  draining = false;
  /** Called when the last public socket closes (drain waits on it). */
  onIdle: (() => void) | null = null;
  private readonly perIp = new Map<string, number>();
  private readonly perTunnel = new Map<string, number>();
  private readonly log: Logger;

  constructor(private readonly opts: FrontDoorOptions) {
    this.log = opts.logger;
  }

  /** The limits in force, for the status report. */
  get limits(): { clientHelloTimeoutMs: number; firstByteTimeoutMs: number; idleTimeoutMs: number; maxConnsPerIp: number; maxConnsPerTunnel: number } {
    const { clientHelloTimeoutMs, firstByteTimeoutMs, idleTimeoutMs, maxConnsPerIp, maxConnsPerTunnel } = this.opts;
    return { clientHelloTimeoutMs, firstByteTimeoutMs, idleTimeoutMs, maxConnsPerIp, maxConnsPerTunnel };
  }

  /** Open public connections of one tunnel (by its resource key). */
  connectionsOf(key: string): number {
    return this.perTunnel.get(key) ?? 0;
  }

  onTlsConnection(socket: net.Socket): void {
    if (!this.admit(socket, 'tls')) return;
    readClientHello(socket, { timeoutMs: this.opts.clientHelloTimeoutMs }).then((hello) => {
      if (socket.destroyed) return;
      const name = hello.serverName!;
      const pool = this.opts.registry.router.lookup(name);
      if (!pool) return this.refuse(socket, 'unknown_name', { sni: name }, true);
      const backend = pool.pick();
      if (!backend) return this.refuse(socket, 'no_agent', { sni: name }, true);
      this.forward(socket, backend, hello.bytes, name);
    }, (err: unknown) => {
      if (!(err instanceof SniError)) {
        socket.destroy();
        this.log.error({ event: 'public.error', err }, 'ClientHello reader failed');
        return;
      }
      // A TLS alert only where the input was TLS (RFC 8446 §6.2); plain HTTP or garbage gets a close.
      this.refuse(socket, SNI_REASON[err.code], { error: err.message }, err.code === 'NO_SNI');
    });
  }

  onTcpConnection(tunnel: PortTunnel, socket: net.Socket): void {
    if (!this.admit(socket, 'tcp')) return;
    const backend = tunnel.pool.pick();
    if (!backend) return this.refuse(socket, 'no_agent', { port: tunnel.port });
    this.forward(socket, backend, undefined, undefined);
  }

  /** Common admission for a public socket: limits, bookkeeping, idle timeout. False: refused. */
  private admit(socket: net.Socket, type: 'tls' | 'tcp'): boolean {
    this.opts.metrics.inc('relay_public_connections_total', { type });
    if (this.draining) { this.refuse(socket, 'draining'); return false; }
    const ip = socket.remoteAddress ?? '?';
    const max = this.opts.maxConnsPerIp;
    const n = this.perIp.get(ip) ?? 0;
    if (max > 0 && n >= max) { this.refuse(socket, 'per_ip_limit'); return false; }
    this.perIp.set(ip, n + 1);
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => {}); // errors are handled by splice or by the close below
    socket.once('close', () => {
      this.sockets.delete(socket);
      if (this.sockets.size === 0) this.onIdle?.();
      decrement(this.perIp, ip);
    });
    this.armTimeouts(socket);
    return true;
  }

  /**
   * One socket timer (Node re-arms it on every read and write, nothing per chunk here): first the
   * first-byte deadline, so that a connection that never carries a byte cannot hold a stream of
   * an agent's session forever; then the idle timeout, if any.
   */
  private armTimeouts(socket: net.Socket): void {
    const { firstByteTimeoutMs: first, idleTimeoutMs: idle } = this.opts;
    if (first === 0) {
      if (idle > 0) socket.setTimeout(idle, () => socket.destroy());
      return;
    }
    socket.setTimeout(first, () => {
      if (socket.bytesRead === 0 && socket.bytesWritten === 0) return this.refuse(socket, 'no_data', { afterMs: first });
      // Idle for `first` ms already: the idle timeout is due now, or after what remains of it.
      if (idle > 0 && idle <= first) return socket.destroy();
      socket.setTimeout(idle > 0 ? idle - first : 0, () => socket.destroy());
    });
  }

  private refuse(socket: net.Socket, reason: RefuseReason, extra: Record<string, unknown> = {}, alert = false): void {
    this.opts.metrics.inc('relay_public_refused_total', { reason });
    this.log.info({ event: 'public.refused', reason, client: `${socket.remoteAddress}:${socket.remotePort}`, ...extra }, 'public connection refused');
    if (alert && !socket.destroyed) socket.end(unrecognizedNameAlert()); else socket.destroy();
    // end() flushes the alert; a peer that never reads must not keep the socket.
    if (alert) {
      const timer = setTimeout(() => socket.destroy(), 2_000);
      socket.once('close', () => clearTimeout(timer));
    }
  }

  /** Opens a stream on the agent's session and splices the customer's socket onto it. */
  private forward(socket: net.Socket, backend: TunnelBackend, first: Buffer | undefined, serverName: string | undefined): void {
    const max = this.opts.maxConnsPerTunnel;
    const count = this.perTunnel.get(backend.key) ?? 0;
    if (max > 0 && count >= max) return this.refuse(socket, 'per_tunnel_limit', { tunnel: backend.key }, serverName !== undefined);
    let stream: Stream;
    try {
      stream = backend.agent.session.openStream({
        tunnelId: backend.tunnelId,
        clientAddress: socket.remoteAddress ?? '',
        clientPort: socket.remotePort ?? 0,
        serverName,
      }, first);
    } catch (err) {
      return this.refuse(socket, 'no_agent', { error: (err as Error).message }, serverName !== undefined);
    }
    this.perTunnel.set(backend.key, count + 1);
    splice(socket, stream, {
      onDone: (err) => {
        decrement(this.perTunnel, backend.key);
        this.opts.metrics.inc('relay_bytes_total', { direction: 'in' }, stream.bytesWritten);
        this.opts.metrics.inc('relay_bytes_total', { direction: 'out' }, stream.bytesRead);
        if (err) this.log.debug({ event: 'public.error', err: err.message, tunnel: backend.key }, 'public connection ended with an error');
      },
    });
  }
}

function decrement(counts: Map<string, number>, key: string): void {
  const left = (counts.get(key) ?? 1) - 1;
  if (left > 0) counts.set(key, left); else counts.delete(key);
}
