import net from 'node:net';
import type { Logger } from '../log.js';
import { connectChannel, type CipherName } from '../channel/index.js';
import type { KeyPair } from '../crypto/keys.js';
import { Session, splice, type MuxConfig, type Stream } from '../mux/index.js';
import { ResetCode } from '../mux/frame.js';
import { ControlStream } from '../control/control-stream.js';
import { CONTROL_TUNNEL_ID, parseRegistered, type TunnelRequest } from '../control/messages.js';
import { formatHostPort, type HostPort } from '../net/address.js';
import { createReusedBufferSocket } from '../net/reused-read-buffer.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import type { TunnelSpec } from './tunnels.js';

/** Socket write buffer of the agent↔relay connection: a few Noise messages (docs/performance.md). */
export const CHANNEL_WRITE_BUFFER = 256 * 1024;
/** The agent↔relay connection reads into one buffer this big: several Noise messages a syscall. */
export const CHANNEL_READ_BUFFER = 256 * 1024;

/**
 * The agent's end of the agent↔relay connection, not yet connected: it reads into one buffer of
 * its own, and its write buffer holds several Noise messages, so the mux is not held back after
 * every message.
 */
export function createLinkSocket(): net.Socket {
  return createReusedBufferSocket(CHANNEL_READ_BUFFER, { writableHighWaterMark: CHANNEL_WRITE_BUFFER } as net.SocketConstructorOpts);
}

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
  /** Called once per live tunnel after each (re)registration, and on refusals (for tests, bench). */
  onTunnel: (result: { id: string; ok: boolean; port?: number; url?: string; code?: string }) => void = () => {};

  constructor(private readonly opts: AgentOptions) {
    this.log = opts.logger;
    this.backoff = new Backoff(opts.backoff);
    for (const t of opts.tunnels) this.byId.set(t.id, t);
  }

  start(): void { this.connect(); }

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
    socket.once('error', (e) => { clearTimeout(connectTimer); void e; });
    connectChannel(socket, {
      staticKey: this.opts.staticKey,
      remoteStaticKey: this.opts.relayKey,
      cipher: this.opts.cipher,
      handshakeTimeoutMs: this.opts.handshakeTimeoutMs,
      logger: this.log.child({ part: 'noise' }),
    }).then((channel) => {
      clearTimeout(connectTimer);
      if (this.stopped) { channel.destroy(); return; }
      this.onChannel(new Session(channel, { role: 'client', config: this.opts.mux, logger: this.log.child({ part: 'mux' }) }), where);
    }, (err: Error & { code?: string }) => {
      clearTimeout(connectTimer);
      socket.destroy();
      this.retry(err, where);
    });
  }

  private onChannel(session: Session, where: string): void {
    this.session = session;
    this.log.info({ event: 'agent.connected', relay: where, cipher: this.opts.cipher }, `connected to relay ${where}`);
    session.onStream = (stream) => this.onStream(stream);
    session.onClose = (err) => {
      if (this.session === session) this.session = null;
      this.retry(err ?? new Error('relay closed the session'), where);
    };
    const control = new ControlStream(session.openStream({ tunnelId: CONTROL_TUNNEL_ID }));
    control.onError = (e) => { this.log.warn({ err: e.message }, 'bad control message from relay'); session.destroy(e); };
    control.onLine = (line) => this.onRegistered(parseRegistered(line));
    control.stream.onEnd = () => control.stream.end();
    control.send({ t: 'register', tunnels: this.opts.tunnels.map((t) => this.request(t)) });
  }

  private request(t: TunnelSpec): TunnelRequest {
    if (t.type === 'tls') return { id: t.id, type: 'tls', hostname: t.hostname };
    return { id: t.id, type: 'tcp', port: t.port || this.gotPorts.get(t.id) || 0 };
  }

  private onRegistered(msg: ReturnType<typeof parseRegistered>): void {
    let anyOk = false;
    for (const r of msg.tunnels) {
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
    if (anyOk) this.backoff.reset();
  }

  /** A customer connection: dial this tunnel's own configured target, splice. */
  private onStream(stream: Stream): void {
    const spec = this.byId.get(stream.meta.tunnelId);
    if (!spec) {
      this.log.warn({ tunnelId: stream.meta.tunnelId.slice(0, 64) }, 'relay opened a stream for an unknown tunnel; reset');
      stream.reset(ResetCode.BAD_METADATA);
      return;
    }
    const local = net.connect({ host: spec.target.host, port: spec.target.port, allowHalfOpen: true, noDelay: true });
    this.locals.add(local);
    local.once('close', () => this.locals.delete(local));
    let connected = false;
    local.once('connect', () => { connected = true; });
    // Registered before splice's own handler: a dial failure resets the stream with its own
    // code (docs/protocol.md "RST"), so the relay can tell it from a failure mid-stream.
    local.once('error', (e: NodeJS.ErrnoException) => {
      if (connected) return;
      this.log.warn({ tunnel: spec.id, target: formatHostPort(spec.target.host, spec.target.port), code: e.code }, 'local target unreachable');
      stream.reset(ResetCode.CONNECT_FAILED, e);
    });
    splice(local, stream);
  }

  private retry(err: Error & { code?: string }, where: string): void {
    if (this.stopped) return;
    const delay = this.backoff.next();
    this.log.warn({ event: 'agent.disconnected', relay: where, code: err.code, error: err.message, retryMs: delay }, `relay ${where}: ${err.message}; retrying in ${delay} ms`);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
}
