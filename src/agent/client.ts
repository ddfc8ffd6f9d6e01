import type net from 'node:net';
import { LogLimiter, printable, type Logger } from '../log.js';
import { connectChannel, type CipherName } from '../channel/index.js';
import type { KeyPair } from '../crypto/keys.js';
import { SendBudget, Session, type MuxConfig, type Stream } from '../mux/index.js';
import { ResetCode } from '../mux/frame.js';
import { MAX_TUNNELS_PER_AGENT, requestRegister, type TunnelRequest, type TunnelResult } from '../control/index.js';
import { createLinkSocket, dialAndSplice } from '../link/index.js';
import { formatHostPort, type HostPort, TokenBucket } from '../net/index.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { proxyHeaderFor } from './proxy-header.js';
import type { TunnelSpec } from './tunnels.js';

export interface AgentOptions {
  relay: HostPort;
  /** The relay's static public key, pinned (Noise IK: the handshake fails against any other). */
  relayKey: Buffer;
  staticKey: KeyPair;
  cipher: CipherName;
  tunnels: TunnelSpec[];
  logger: Logger;
  mux?: Partial<MuxConfig>;
  backoff?: BackoffOptions;
  connectTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  /** Local connections to targets at once (default 4096); an OPEN beyond it is refused. */
  maxLocalConns?: number;
  /** New local connections per second (default 5000, burst the same; 0: no limit); an OPEN beyond it is refused. */
  dialRate?: number;
  /** Close a local connection idle this long both ways (default 0: never). */
  idleTimeoutMs?: number;
  /** A dial to a target not connected within this fails (default 10 000 ms). */
  dialTimeoutMs?: number;
  /** Bytes queued for the relay, all local connections together, before local reads pause (default 64 MiB). */
  maxQueuedBytes?: number;
}

/**
 * The private side: dials out to the relay (so it works behind NAT), authenticates, registers
 * its tunnels, and for every stream the relay opens dials the local target that its own
 * configuration names for that tunnel. The relay names a tunnel, never an address. Reconnects
 * forever with backoff and registers again after every reconnect.
 */
export class AgentClient {
  private readonly byId = new Map<string, TunnelSpec>();
  /** Ports the relay gave us, asked for again after a reconnect (even across relay restarts). */
  private readonly gotPorts = new Map<string, number>();
  private readonly backoff: Backoff;
  private readonly log: Logger;
  private stopped = false;
  private session: Session | null = null;
  private socket: net.Socket | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly locals = new Set<net.Socket>();
  private readonly dials: TokenBucket | null;
  /** One budget for all sessions: local reads pause when the relay does not take what they queue. */
  private readonly sendBudget: SendBudget;
  /** Called once per live tunnel after each (re)registration, and on refusals (for tests, bench). */
  onTunnel: (result: { id: string; ok: boolean; port?: number; url?: string; code?: string }) => void = () => {};

  constructor(private readonly opts: AgentOptions) {
    this.log = opts.logger;
    this.backoff = new Backoff(opts.backoff);
    this.sendBudget = new SendBudget(opts.maxQueuedBytes ?? 64 * 1024 * 1024);
    const rate = opts.dialRate ?? 5000;
    this.dials = rate > 0 ? new TokenBucket(rate) : null;
    for (const t of opts.tunnels.slice(0, MAX_TUNNELS_PER_AGENT)) this.byId.set(t.id, t);
  }

  start(): void {
    // A relay takes at most MAX_TUNNELS_PER_AGENT per session: say so now, for each one left out.
    for (const t of this.opts.tunnels.slice(MAX_TUNNELS_PER_AGENT)) {
      const message = `at most ${MAX_TUNNELS_PER_AGENT} tunnels per agent; this one is not registered`;
      this.log.error({ event: 'tunnel.error', code: 'TOO_MANY_TUNNELS', message, tunnel: t.id }, `tunnel ${t.id} refused: ${message}`);
      this.onTunnel({ id: t.id, ok: false, code: 'TOO_MANY_TUNNELS' });
    }
    this.connect();
  }

  /** Stops reconnecting, closes the session (authenticated close) and every local connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    for (const s of this.locals) s.destroy();
    const session = this.session;
    if (session) {
      await new Promise<void>((resolve) => {
        const prev = session.onClose;
        session.onClose = (e) => { prev(e); resolve(); };
        session.close();
        setTimeout(() => { session.destroy(); resolve(); }, 2_000).unref();
      });
    }
    this.socket?.destroy();
  }

  private connect(): void {
    if (this.stopped) return;
    const { relay } = this.opts;
    const where = formatHostPort(relay.host, relay.port);
    const socket = createLinkSocket();
    socket.connect({ host: relay.host, port: relay.port, noDelay: true });
    this.socket = socket;
    const connectTimer = setTimeout(() => socket.destroy(new Error(`connect to ${where} timed out`)), this.opts.connectTimeoutMs ?? 10_000);
    socket.once('connect', () => clearTimeout(connectTimer));
    socket.once('error', () => clearTimeout(connectTimer));
    connectChannel(socket, {
      staticKey: this.opts.staticKey,
      remoteStaticKey: this.opts.relayKey,
      cipher: this.opts.cipher,
      handshakeTimeoutMs: this.opts.handshakeTimeoutMs,
      logger: this.log.child({ part: 'noise' }),
    }).then((channel) => {
      clearTimeout(connectTimer);
      if (this.stopped) { channel.destroy(); return; }
      this.onChannel(new Session(channel, { role: 'client', config: this.opts.mux, sendBudget: this.sendBudget, logger: this.log.child({ part: 'mux' }) }), where);
    }, (err: Error & { code?: string }) => {
      clearTimeout(connectTimer);
      socket.destroy();
      this.retry(err, where);
    });
  }

  private onChannel(session: Session, where: string): void {
    this.session = session;
    this.log.info({ event: 'link.up', relay: where, cipher: this.opts.cipher }, `connected to relay ${where}`);
    const peerLog = new LogLimiter(this.log); // what this relay makes us say, bounded
    const said = { noDestination: false }; // warnings given once per session
    session.onStream = (stream) => this.onStream(stream, peerLog, said);
    session.onClose = (err) => {
      peerLog.flush();
      if (this.session === session) this.session = null;
      this.retry(err ?? new Error('relay closed the session'), where);
    };
    requestRegister(session, [...this.byId.values()].map((t) => this.request(t)), {
      onResults: (msg) => { if (this.onResults(msg.tunnels)) this.backoff.reset(); },
      onUpdate: (msg) => { this.onResults(msg.tunnels); },
      onError: (e) => {
        this.log.warn({ event: 'control.error', err: e.message }, 'bad control message from relay');
        session.destroy(e);
      },
    });
  }

  private request(t: TunnelSpec): TunnelRequest {
    const policy = { ...(t.allow?.length ? { allow: t.allow } : {}), ...(t.deny?.length ? { deny: t.deny } : {}) };
    if (t.type === 'tls') return { id: t.id, type: 'tls', hostname: t.hostname, ...policy };
    return { id: t.id, type: 'tcp', port: t.port || this.gotPorts.get(t.id) || 0, ...policy };
  }

  /** The relay's word on tunnels (its answer, or a later update); true when any is live. */
  private onResults(results: TunnelResult[]): boolean {
    let anyOk = false;
    for (const r of results) {
      const spec = this.byId.get(r.id);
      if (!spec) continue; // a result for a tunnel we never asked for: ignore it
      if (!r.ok) {
        this.log.error({ event: 'tunnel.error', code: r.code, message: r.message, tunnel: r.id }, `tunnel ${r.id} refused: ${r.message}`);
        this.onTunnel({ id: r.id, ok: false, code: r.code });
        continue;
      }
      if (r.type !== spec.type || (r.type === 'tls' && spec.type === 'tls' && r.hostname !== spec.hostname)) {
        // A relay that answers for something else is broken or hostile: believe nothing of it.
        this.log.error({ event: 'tunnel.error', code: 'BAD_REPLY', message: 'the relay answered for another tunnel', tunnel: r.id }, `tunnel ${r.id}: the relay answered for another tunnel`);
        this.onTunnel({ id: r.id, ok: false, code: 'BAD_REPLY' });
        continue;
      }
      anyOk = true;
      const target = formatHostPort(spec.target.host, spec.target.port);
      if (r.type === 'tls') {
        this.log.info({ event: 'tunnel.ready', type: 'tls', hostname: r.hostname, url: r.url, target }, `tunnel ready: ${r.url} → ${target}`);
        this.onTunnel({ id: r.id, ok: true, url: r.url });
      } else {
        this.gotPorts.set(r.id, r.port);
        this.log.info({ event: 'tunnel.ready', type: 'tcp', port: r.port, address: r.address, target }, `tunnel ready: tcp://${r.address} → ${target}`);
        this.onTunnel({ id: r.id, ok: true, port: r.port });
      }
    }
    return anyOk;
  }

  /** A customer connection: dial this tunnel's own configured target, splice. */
  private onStream(stream: Stream, peerLog: LogLimiter, said: { noDestination: boolean }): void {
    const spec = this.byId.get(stream.meta.tunnelId);
    if (!spec) {
      peerLog.warn({ event: 'stream.unknown_tunnel', tunnelId: printable(stream.meta.tunnelId, 64) }, 'relay opened a stream for an unknown tunnel; reset');
      stream.reset(ResetCode.BAD_METADATA);
      return;
    }
    // What the relay (or the public through it) opens costs local sockets: bounded in number and rate.
    const refusal = this.locals.size >= (this.opts.maxLocalConns ?? 4096) ? 'max_local_conns' : this.dials?.take() === false ? 'dial_rate' : null;
    if (refusal !== null) {
      peerLog.warn({ event: 'stream.refused', tunnel: spec.id, reason: refusal }, `stream refused: ${refusal}`);
      stream.reset(ResetCode.REFUSED_TOO_MANY);
      return;
    }
    const target = spec.target;
    let header: Buffer | undefined;
    if (spec.proxyProtocol) {
      const pp = proxyHeaderFor(spec.proxyProtocol, spec, stream.meta);
      header = pp.header;
      if (!pp.complete && !said.noDestination) {
        said.noDestination = true;
        this.log.warn({ event: 'proxy_protocol.no_destination', tunnel: spec.id },
          'the relay sends no destination address (it predates OPEN metadata layout 2): PROXY headers say UNKNOWN (v1) or LOCAL (v2)');
      }
    }
    const local = dialAndSplice(stream, target, {
      header,
      connectTimeoutMs: this.opts.dialTimeoutMs,
      idleTimeoutMs: this.opts.idleTimeoutMs,
      onConnectError: (e) => {
        peerLog.warn({ event: 'target.unreachable', tunnel: spec.id, target: formatHostPort(target.host, target.port), code: e.code }, 'local target unreachable');
      },
    });
    this.locals.add(local);
    local.once('close', () => this.locals.delete(local));
  }

  private retry(err: Error & { code?: string }, where: string): void {
    if (this.stopped) return;
    const delay = this.backoff.next();
    this.log.warn({ event: 'link.down', relay: where, code: err.code, error: err.message, retryMs: delay }, `relay ${where}: ${err.message}; retrying in ${delay} ms`);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
}
