import net from 'node:net';
import type http from 'node:http';
import type { Logger } from '../log.js';
import { NoiseResponder } from '../channel/responder.js';
import { encodeKey, type KeyPair } from '../crypto/keys.js';
import { readClientHello, unrecognizedNameAlert, SniError } from '../sni/index.js';
import { Session, splice, type MuxConfig, type Stream } from '../mux/index.js';
import { ControlStream } from '../control/control-stream.js';
import { CONTROL_TUNNEL_ID, ControlError, MAX_TUNNELS_PER_AGENT, parseRegister, type TunnelRequest, type TunnelResult } from '../control/messages.js';
import { formatHostPort, type HostPort } from '../net/address.js';
import { HostRouter, Pool } from './router.js';
import { Leases } from './leases.js';
import { Authorizer } from './authz.js';
import { Metrics } from './metrics.js';
import { createAdminServer } from './admin.js';
import { AgentSession, TunnelBackend } from './agent-session.js';
import type { AgentGrant } from './config.js';
import { CHANNEL_WRITE_BUFFER } from '../agent/client.js';

export interface RelayOptions {
  staticKey: KeyPair;
  /** Public TLS/SNI listener; null: none. */
  tlsListen: HostPort | null;
  agentListen: HostPort;
  adminListen: HostPort | null;
  /** Public ports for TCP tunnels; null: TCP tunnels are refused. */
  tcpPorts: { from: number; to: number } | null;
  /** Address the TCP tunnel ports bind to (default: the TLS listener's host, else 0.0.0.0). */
  tcpHost?: string;
  /** Host name shown to agents in URLs and addresses (default: the TLS listener's host). */
  publicHost?: string;
  allowAnyAgent: boolean;
  grants: AgentGrant[];
  clientHelloTimeoutMs?: number;
  /** Close a public connection idle this long in both directions (0: never). */
  idleTimeoutMs?: number;
  maxConnsPerTunnel?: number;
  maxConnsPerIp?: number;
  drainTimeoutMs?: number;
  leaseMs?: number;
  handshakeTimeoutMs?: number;
  /**
   * A session whose key the relay does not know lives only to hear why: it is ended this long
   * after it opens, whether it registers or not (default 10 000 ms).
   */
  unknownAgentTimeoutMs?: number;
  mux?: Partial<MuxConfig>;
  logger: Logger;
}

/** A listening TCP tunnel port and the agents behind it. */
interface PortTunnel { port: number; server: net.Server; pool: Pool<TunnelBackend> }

/** Reason codes for a refused public connection (metrics label, log field). */
type RefuseReason = 'not_tls' | 'no_sni' | 'malformed' | 'too_large' | 'timeout' | 'unknown_name' | 'no_agent' | 'per_ip_limit' | 'per_tunnel_limit' | 'draining';

const SNI_REASON: Record<SniError['code'], RefuseReason> = {
  NOT_TLS: 'not_tls', NO_SNI: 'no_sni', MALFORMED: 'malformed', TOO_LARGE: 'too_large', TIMEOUT: 'timeout',
};

/**
 * The public side: accepts customers' TLS (routed by SNI) and TCP tunnel connections, and
 * agents' Noise connections; splices each customer connection onto a stream of an agent's
 * session. It never dials out: every connection it makes is accepted, not opened.
 */
export class RelayServer {
  readonly router = new HostRouter<TunnelBackend>();
  readonly ports = new Map<number, PortTunnel>();
  readonly agents = new Set<AgentSession>();
  /** Every socket on the agent listener, from accept (handshake included) to close. */
  private readonly agentSockets = new Set<net.Socket>();
  /** Every authenticated session, authorized or not: shutdown must end them all. */
  private readonly sessions = new Set<AgentSession>();
  readonly metrics = new Metrics();
  private readonly leases: Leases;
  private readonly authz: Authorizer;
  private readonly responder: NoiseResponder;
  private readonly log: Logger;
  private readonly perIp = new Map<string, number>();
  private readonly perTunnel = new Map<string, number>();
  /** Port → the (agent key, tunnel id) it was last given to, so a reconnect gets it back. Bounded by the ports bound. */
  private readonly portGivenTo = new Map<number, string>();
  private readonly publicSockets = new Set<net.Socket>();
  private tlsServer: net.Server | null = null;
  private agentServer: net.Server | null = null;
  private adminServer: http.Server | null = null;
  private draining = false;
  /** Set while drain() waits for the last public connection. */
  private onPublicIdle: (() => void) | null = null;
  readonly publicKey: string;
  addresses: { tls: string | null; agent: string; admin: string | null } = { tls: null, agent: '', admin: null };

  constructor(private readonly opts: RelayOptions) {
    this.log = opts.logger;
    this.leases = new Leases(opts.leaseMs ?? 10 * 60_000);
    this.authz = new Authorizer(opts.grants, opts.allowAnyAgent);
    this.publicKey = encodeKey(opts.staticKey.publicKey);
    this.responder = new NoiseResponder({ staticKey: opts.staticKey, logger: this.log.child({ part: 'noise' }), handshakeTimeoutMs: opts.handshakeTimeoutMs });
    const m = this.metrics;
    m.describe('relay_public_connections_total', 'Public connections accepted, by listener type');
    m.describe('relay_public_refused_total', 'Public connections refused, by reason');
    m.describe('relay_agent_handshakes_failed_total', 'Agent connections that failed before a session, by code');
    m.describe('relay_tunnel_errors_total', 'Tunnel registrations refused, by code');
    m.describe('relay_bytes_total', 'Bytes spliced, by direction (in: from public clients)');
    m.describe('relay_agent_sessions', 'Live agent sessions');
    m.describe('relay_public_open', 'Open public connections');
    m.gauge('relay_agent_sessions', () => this.agents.size);
    m.gauge('relay_public_open', () => this.publicSockets.size);
  }

  /** Binds every listener; resolves with the real addresses (port 0 gets one from the OS). */
  async start(): Promise<void> {
    const o = this.opts;
    this.agentServer = net.createServer({ noDelay: true, highWaterMark: CHANNEL_WRITE_BUFFER }, (s) => this.onAgentSocket(s));
    this.addresses.agent = await listen(this.agentServer, o.agentListen);
    if (o.tlsListen) {
      this.tlsServer = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.onPublicTls(s));
      this.addresses.tls = await listen(this.tlsServer, o.tlsListen);
    }
    if (o.adminListen) {
      this.adminServer = createAdminServer({
        healthy: () => !this.draining, status: () => this.status(), metrics: () => this.metrics.render(),
      }, this.log.child({ part: 'admin' }));
      this.addresses.admin = await listen(this.adminServer, o.adminListen);
    }
  }

  private get publicHost(): string {
    return this.opts.publicHost ?? (this.opts.tlsListen && !['0.0.0.0', '::'].includes(this.opts.tlsListen.host) ? this.opts.tlsListen.host : 'localhost');
  }

  // ---------------------------------------------------------------- public connections

  /** Common admission for a public socket: limits, bookkeeping, idle timeout. False: refused. */
  private admit(socket: net.Socket, type: 'tls' | 'tcp'): boolean {
    this.metrics.inc('relay_public_connections_total', { type });
    if (this.draining) { this.refuse(socket, 'draining'); return false; }
    const ip = socket.remoteAddress ?? '?';
    const max = this.opts.maxConnsPerIp ?? 0;
    const n = this.perIp.get(ip) ?? 0;
    if (max > 0 && n >= max) { this.refuse(socket, 'per_ip_limit'); return false; }
    this.perIp.set(ip, n + 1);
    this.publicSockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => {}); // errors are handled by splice or by the close below
    socket.once('close', () => {
      this.publicSockets.delete(socket);
      if (this.publicSockets.size === 0) this.onPublicIdle?.();
      const left = (this.perIp.get(ip) ?? 1) - 1;
      if (left > 0) this.perIp.set(ip, left); else this.perIp.delete(ip);
    });
    const idle = this.opts.idleTimeoutMs ?? 0;
    if (idle > 0) socket.setTimeout(idle, () => socket.destroy());
    return true;
  }

  private refuse(socket: net.Socket, reason: RefuseReason, extra: Record<string, unknown> = {}, alert = false): void {
    this.metrics.inc('relay_public_refused_total', { reason });
    this.log.info({ reason, client: `${socket.remoteAddress}:${socket.remotePort}`, ...extra }, 'public connection refused');
    if (alert && !socket.destroyed) socket.end(unrecognizedNameAlert()); else socket.destroy();
    // end() flushes the alert; make sure a peer that never reads cannot keep the socket.
    if (alert) {
      const timer = setTimeout(() => socket.destroy(), 2_000);
      socket.once('close', () => clearTimeout(timer));
    }
  }

  private onPublicTls(socket: net.Socket): void {
    if (!this.admit(socket, 'tls')) return;
    readClientHello(socket, { timeoutMs: this.opts.clientHelloTimeoutMs ?? 10_000 }).then((hello) => {
      if (socket.destroyed) return;
      const name = hello.serverName!;
      const pool = this.router.lookup(name);
      if (!pool) return this.refuse(socket, 'unknown_name', { sni: name }, true);
      const backend = pool.pick();
      if (!backend) return this.refuse(socket, 'no_agent', { sni: name }, true);
      this.forward(socket, backend, hello.bytes, name);
    }, (err: unknown) => {
      if (!(err instanceof SniError)) { socket.destroy(); this.log.error({ err }, 'ClientHello reader failed'); return; }
      // A TLS alert only where the input was TLS (RFC 8446 §6.2); plain HTTP or garbage gets a close.
      this.refuse(socket, SNI_REASON[err.code], { error: err.message }, err.code === 'NO_SNI');
    });
  }

  private onPublicTcp(tunnel: PortTunnel, socket: net.Socket): void {
    if (!this.admit(socket, 'tcp')) return;
    const backend = tunnel.pool.pick();
    if (!backend) return this.refuse(socket, 'no_agent', { port: tunnel.port });
    this.forward(socket, backend, undefined, undefined);
  }

  /** Opens a stream on the agent's session and splices the customer's socket onto it. */
  private forward(socket: net.Socket, backend: TunnelBackend, first: Buffer | undefined, serverName: string | undefined): void {
    const max = this.opts.maxConnsPerTunnel ?? 0;
    const count = this.perTunnel.get(backend.resource) ?? 0;
    if (max > 0 && count >= max) return this.refuse(socket, 'per_tunnel_limit', { tunnel: backend.resource }, serverName !== undefined);
    this.perTunnel.set(backend.resource, count + 1);
    let stream: Stream;
    try {
      stream = backend.agent.session.openStream({
        tunnelId: backend.tunnelId,
        clientAddress: socket.remoteAddress ?? '',
        clientPort: socket.remotePort ?? 0,
        serverName,
      }, first);
    } catch (err) {
      this.perTunnel.set(backend.resource, count);
      return this.refuse(socket, 'no_agent', { error: (err as Error).message }, serverName !== undefined);
    }
    splice(socket, stream, {
      onDone: (err) => {
        const left = (this.perTunnel.get(backend.resource) ?? 1) - 1;
        if (left > 0) this.perTunnel.set(backend.resource, left); else this.perTunnel.delete(backend.resource);
        this.metrics.inc('relay_bytes_total', { direction: 'in' }, stream.bytesWritten);
        this.metrics.inc('relay_bytes_total', { direction: 'out' }, stream.bytesRead);
        if (err) this.log.debug({ err: err.message, tunnel: backend.resource }, 'public connection ended with an error');
      },
    });
  }

  // ---------------------------------------------------------------- agents

  private onAgentSocket(socket: net.Socket): void {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    if (this.draining) { socket.destroy(); return; }
    this.agentSockets.add(socket);
    socket.once('close', () => this.agentSockets.delete(socket));
    this.responder.accept(socket).then((channel) => {
      const key = encodeKey(channel.remoteStaticKey);
      const session = new Session(channel, { role: 'server', config: this.opts.mux, logger: this.log.child({ part: 'mux', agent: key.slice(0, 8) }) });
      const agent = new AgentSession(key, this.authz.agentName(key) ?? key.slice(0, 8), remote, session, channel.cipher);
      this.onAgentSession(agent);
    }, (err: { code?: string; message: string }) => {
      // NoiseResponder has logged the failure; count it.
      this.metrics.inc('relay_agent_handshakes_failed_total', { code: err.code ?? 'ERROR' });
    });
  }

  private onAgentSession(agent: AgentSession): void {
    const { session } = agent;
    const log = this.log.child({ agent: agent.name });
    const known = this.authz.knows(agent.key);
    if (known) this.agents.add(agent);
    this.sessions.add(agent);
    log.info({ event: 'agent.connected', remote: agent.remote, cipher: agent.cipher, authorized: known }, 'agent connected');
    let control: ControlStream | null = null;
    session.onStream = (stream) => {
      if (stream.meta.tunnelId !== CONTROL_TUNNEL_ID || control) {
        // The relay never dials on an agent's say-so: an agent has no business opening data streams.
        log.warn({ tunnelId: stream.meta.tunnelId.slice(0, 64) }, 'agent opened an unexpected stream; reset');
        stream.destroy();
        return;
      }
      const ctl = new ControlStream(stream);
      control = ctl;
      let answering = false; // a register is being answered: keep our side open for the answer
      let peerEnded = false;
      ctl.onError = (e) => { log.warn({ err: e.message }, 'bad control message; closing session'); session.destroy(e); };
      let registered = false;
      ctl.onLine = (line) => {
        // One register per session: the agent sends its whole list once. A second one could
        // race the first (a TCP claim awaits its bind) and overwrite a tunnel id it holds,
        // leaking that tunnel's lease and pool entry; it also lifts MAX_TUNNELS_PER_AGENT.
        if (registered) throw new ControlError('CONTROL_PROTOCOL', 'control message: only one register per session');
        registered = true;
        const msg = parseRegister(line);
        answering = true;
        this.register(agent, msg.tunnels).then((results) => {
          answering = false;
          if (agent.closed) return;
          ctl.send({ t: 'registered', tunnels: results });
          // An unknown key gets its answer, then the session ends once the answer is through.
          if (!known || peerEnded) ctl.end();
        }).catch((e: unknown) => {
          // A bug, not the agent's doing: log it and end this session rather than the process.
          log.error({ err: e }, 'answering a register failed; closing session');
          session.destroy(e instanceof Error ? e : new Error(String(e)));
        });
      };
      // The agent may half-close right after its register (even in the same message): answer first.
      stream.onEnd = () => { peerEnded = true; if (!answering) ctl.end(); };
      stream.onClose = () => { if (!known) session.close(); };
    };
    const onClose = (err?: Error): void => {
      agent.closed = true;
      this.agents.delete(agent);
      this.sessions.delete(agent);
      for (const t of agent.tunnels.values()) this.unregister(agent, t);
      agent.tunnels.clear();
      log.info({ event: 'agent.disconnected', remote: agent.remote, error: err?.message }, 'agent disconnected');
    };
    if (known) session.onClose = onClose;
    else {
      const deadline = setTimeout(() => session.destroy(), this.opts.unknownAgentTimeoutMs ?? 10_000);
      deadline.unref();
      session.onClose = (err) => { clearTimeout(deadline); onClose(err); };
    }
  }

  /** Answers a register request, tunnel by tunnel. */
  private async register(agent: AgentSession, requests: TunnelRequest[]): Promise<TunnelResult[]> {
    const out: TunnelResult[] = [];
    for (const req of requests) {
      let r: TunnelResult;
      try {
        r = await this.registerOne(agent, req);
      } catch (e) {
        r = { id: req.id, ok: false, code: 'INTERNAL', message: (e as Error).message };
      }
      if (!r.ok) {
        this.metrics.inc('relay_tunnel_errors_total', { code: r.code });
        this.log.warn({ agent: agent.name, tunnel: req.id, code: r.code, message: r.message }, 'tunnel refused');
      }
      out.push(r);
    }
    return out;
  }

  private async registerOne(agent: AgentSession, req: TunnelRequest): Promise<TunnelResult> {
    const refuse = (code: string, message: string): TunnelResult => ({ id: req.id, ok: false, code, message });
    if (!this.authz.knows(agent.key)) return refuse('UNAUTHORIZED_KEY', `agent key ${agent.key} is not authorized on this relay (add it to the relay config's [[agents]], or run the relay with --allow-any-agent)`);
    if (agent.tunnels.has(req.id)) return refuse('DUPLICATE', `tunnel ${req.id} is already registered on this session`);
    // The cap holds per session, whatever number of register lines it sends.
    if (agent.tunnels.size >= MAX_TUNNELS_PER_AGENT) return refuse('TOO_MANY_TUNNELS', `at most ${MAX_TUNNELS_PER_AGENT} tunnels per agent session`);
    if (req.type === 'tls') {
      if (!this.opts.tlsListen) return refuse('NO_TLS_LISTENER', 'this relay has no TLS listener');
      const host = req.hostname;
      const resource = `host:${host}`;
      if (!this.authz.mayClaimHost(agent.key, host)) return refuse('NOT_AUTHORIZED', `this agent key may not claim ${host}`);
      if (!this.leases.mayTake(resource, agent.key, this.authz.granted(agent.key, host))) return refuse('IN_USE', `${host} is held by another agent`);
      const t = new TunnelBackend(agent, req.id, resource);
      this.leases.acquire(resource, agent.key);
      this.router.add(host, t);
      agent.tunnels.set(req.id, t);
      const port = Number(this.addresses.tls!.split(':').pop());
      const url = `https://${host}${port === 443 ? '' : `:${port}`}/`;
      return { id: req.id, ok: true, type: 'tls', hostname: host, url };
    }
    const port = await this.claimPort(agent, req);
    if (typeof port !== 'number') return { id: req.id, ok: false, ...port };
    const tunnel = this.ports.get(port)!;
    const t = new TunnelBackend(agent, req.id, `port:${port}`);
    if (agent.closed) return refuse('CLOSED', 'session closed');
    this.leases.acquire(t.resource, agent.key);
    tunnel.pool.add(t);
    agent.tunnels.set(req.id, t);
    this.portGivenTo.set(port, `${agent.key}/${req.id}`);
    return { id: req.id, ok: true, type: 'tcp', port, address: formatHostPort(this.publicHost, port) };
  }

  /** Finds (and binds, if needed) the public port for a TCP tunnel. */
  private async claimPort(agent: AgentSession, req: { id: string; port: number }): Promise<number | { code: string; message: string }> {
    const range = this.opts.tcpPorts;
    const key = agent.key;
    const inRange = (p: number) => !!range && p >= range.from && p <= range.to;
    const usable = (p: number) => this.leases.mayTake(`port:${p}`, key, this.authz.grantedPort(key, p));
    if (req.port !== 0) {
      const p = req.port;
      if (!inRange(p) && !this.authz.grantedPort(key, p)) return { code: 'NOT_AUTHORIZED', message: `port ${p} is outside this relay's TCP port range${range ? ` ${range.from}-${range.to}` : ''}` };
      if (!this.authz.mayClaimPort(key, p)) return { code: 'NOT_AUTHORIZED', message: `this agent key may not claim port ${p}` };
      if (!usable(p)) return { code: 'IN_USE', message: `port ${p} is held by another agent` };
      return (await this.bindPort(p)) ? p : { code: 'PORT_UNAVAILABLE', message: `port ${p} cannot be bound on the relay` };
    }
    if (!range) return { code: 'NO_TCP_PORTS', message: 'this relay has no TCP port range (relay serve --tcp-ports)' };
    const who = `${key}/${req.id}`;
    let previous: number | undefined;
    for (const [p, w] of this.portGivenTo) if (w === who) { previous = p; break; }
    if (previous !== undefined && this.leases.holds(`port:${previous}`, key) && (await this.bindPort(previous))) return previous;
    for (let p = range.from; p <= range.to; p++) {
      if (!this.authz.mayClaimPort(key, p) || this.leases.isHeld(`port:${p}`)) continue;
      if (await this.bindPort(p)) return p;
    }
    return { code: 'NO_FREE_PORT', message: 'no free port left in the relay\'s TCP range' };
  }

  /** Listens on a tunnel port (once); false when the OS refuses it. */
  private async bindPort(port: number): Promise<boolean> {
    if (this.ports.has(port)) return true;
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.onPublicTcp(tunnel, s));
    const tunnel: PortTunnel = { port, server, pool: new Pool() };
    const host = this.opts.tcpHost ?? this.opts.tlsListen?.host ?? '0.0.0.0';
    try {
      await listen(server, { host, port });
    } catch (e) {
      this.log.warn({ port, err: (e as Error).message }, 'cannot bind TCP tunnel port');
      return false;
    }
    if (this.ports.has(port)) { server.close(); return true; } // raced with another claim
    this.ports.set(port, tunnel);
    return true;
  }

  private unregister(agent: AgentSession, t: TunnelBackend): void {
    this.leases.release(t.resource, agent.key);
    if (t.resource.startsWith('host:')) {
      this.router.remove(t.resource.slice(5), t);
    } else {
      const port = Number(t.resource.slice(5));
      this.ports.get(port)?.pool.remove(t);
    }
  }

  // ---------------------------------------------------------------- status and shutdown

  status(): unknown {
    const conns = (r: string) => this.perTunnel.get(r) ?? 0;
    const describe = (pool: Pool<TunnelBackend>, resource: string) => ({
      connections: conns(resource),
      agents: pool.members.map((b) => ({ name: b.agent.name, key: b.agent.key, remote: b.agent.remote, streams: b.streamCount })),
    });
    return {
      publicKey: this.publicKey,
      draining: this.draining,
      agents: this.agents.size,
      tunnels: [
        ...this.router.entries().map(([host, pool]) => ({ type: 'tls', hostname: host, ...describe(pool, `host:${host}`) })),
        ...[...this.ports.values()].filter((t) => t.pool.size > 0).map((t) => ({ type: 'tcp', port: t.port, ...describe(t.pool, `port:${t.port}`) })),
      ],
      bytes: { in: this.metrics.get('relay_bytes_total', { direction: 'in' }), out: this.metrics.get('relay_bytes_total', { direction: 'out' }) },
    };
  }

  /**
   * Graceful drain (SIGTERM): stop accepting, tell agents no new streams will come (GO_AWAY),
   * let open public connections finish up to `drainTimeoutMs`, then close everything.
   */
  async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.log.info({ event: 'relay.draining', open: this.publicSockets.size }, 'draining');
    this.tlsServer?.close();
    this.agentServer?.close();
    for (const t of this.ports.values()) t.server.close();
    for (const a of this.sessions) a.session.goAway(); // docs/protocol.md "GO_AWAY": no new streams
    // Wait for the last public socket to close (admit's close handler calls onPublicIdle), or
    // the deadline: one timer, one callback, nothing added per socket. (Racing once(s, 'close')
    // over the sockets rejected on the first socket 'error', e.g. a client's RST, and ended
    // the drain at once with exit 1; it also added listeners to every socket at every turn.)
    if (this.publicSockets.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.opts.drainTimeoutMs ?? 30_000);
        function done(): void { clearTimeout(timer); resolve(); }
        this.onPublicIdle = done;
      });
      this.onPublicIdle = null;
    }
    await this.close();
  }

  /**
   * Closes every listener, connection and session at once: sessions get the authenticated
   * close, and whatever is still open on the agent listener a moment later (a peer that does
   * not answer CLOSE, a handshake in progress) is destroyed, so that nothing holds the exit.
   */
  async close(): Promise<void> {
    this.draining = true;
    for (const s of this.publicSockets) s.destroy();
    for (const a of this.sessions) a.session.close();
    const grace = setTimeout(() => { for (const s of this.agentSockets) s.destroy(); }, 1_000);
    grace.unref();
    const servers = [this.tlsServer, this.agentServer, this.adminServer, ...[...this.ports.values()].map((t) => t.server)];
    this.adminServer?.closeAllConnections();
    await Promise.all(servers.map((s) => s && new Promise<void>((r) => s.close(() => r()))));
    clearTimeout(grace);
  }
}

/** Listens and resolves with `HOST:PORT` as bound. */
function listen(server: net.Server | http.Server, addr: HostPort): Promise<string> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once('error', onError);
    server.listen(addr.port, addr.host, () => {
      server.off('error', onError);
      const a = server.address() as net.AddressInfo;
      resolve(formatHostPort(a.address, a.port));
    });
  });
}
