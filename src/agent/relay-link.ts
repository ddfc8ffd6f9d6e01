import type net from 'node:net';
import { LogLimiter, type Logger } from '../log.js';
import { connectChannel, type CipherName } from '../channel/index.js';
import type { KeyPair } from '../crypto/keys.js';
import { Session, type MuxConfig, type SendBudget, type Stream } from '../mux/index.js';
import { requestRegister, type TunnelRequest, type TunnelResult, type WorkerInfo } from '../control/index.js';
import { createLinkSocket } from '../link/index.js';
import type { HostPort } from '../net/index.js';
import { Backoff, type BackoffOptions } from './backoff.js';

/** What every link of one agent shares: its keys, its tunnels, its local side. */
export interface LinkHost {
  readonly relayKey: Buffer;
  readonly staticKey: KeyPair;
  readonly cipher: CipherName;
  readonly mux?: Partial<MuxConfig>;
  readonly backoff?: BackoffOptions;
  readonly connectTimeoutMs?: number;
  readonly handshakeTimeoutMs?: number;
  readonly sendBudget: SendBudget;
  readonly log: Logger;
  /** The register entries for this link, once it may send them (TCP ports agreed: client.ts). */
  requestsFor(link: RelayLink): Promise<TunnelRequest[]>;
  /** The relay's answer or a later update; true when any tunnel is live. */
  onResults(link: RelayLink, results: TunnelResult[]): boolean;
  /** The relay said which of its workers answered (README "Workers"); false: this session is being given up. */
  onWorker(link: RelayLink, info: WorkerInfo): boolean;
  /** This link's registration is over, answered or not (another link may go on). */
  onRegisterDone(link: RelayLink): void;
  /** A customer connection the relay opened. */
  onStream(link: RelayLink, stream: Stream, peerLog: LogLimiter, said: { noDestination: boolean }): void;
}

/**
 * One relay address and the agent's session to it: connect, authenticate, register, and
 * reconnect with backoff of its own whenever the session ends, independently of the agent's
 * other relays (README "Several relays").
 */
export class RelayLink {
  /** `HOST:PORT` of this relay, as logs and events name it. */
  readonly where: string;
  /** The relay worker this link's session reached, once the relay said (null: not yet, or a relay of one). */
  worker: number | null = null;
  /** Sessions given up because they reached a worker another link already holds. */
  duplicates = 0;
  private readonly backoff: Backoff;
  private stopped = false;
  private session: Session | null = null;
  private socket: net.Socket | null = null;
  private retryTimer: NodeJS.Timeout | null = null;

  /** `slot`: this link's place among the links to one relay address (one per relay worker). */
  constructor(private readonly host: LinkHost, readonly address: HostPort, where: string, readonly slot = 0) {
    this.where = where;
    this.backoff = new Backoff(host.backoff);
  }

  start(): void {
    this.connect();
  }

  /** Stops reconnecting and closes the session (authenticated close; destroyed after 2 s). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
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
    const { address, where, host } = this;
    const socket = createLinkSocket();
    socket.connect({ host: address.host, port: address.port, noDelay: true });
    this.socket = socket;
    const connectTimer = setTimeout(() => socket.destroy(new Error(`connect to ${where} timed out`)), host.connectTimeoutMs ?? 10_000);
    socket.once('connect', () => clearTimeout(connectTimer));
    socket.once('error', () => clearTimeout(connectTimer));
    connectChannel(socket, {
      staticKey: host.staticKey,
      remoteStaticKey: host.relayKey,
      cipher: host.cipher,
      handshakeTimeoutMs: host.handshakeTimeoutMs,
      logger: host.log.child({ part: 'noise', relay: where }),
    }).then((channel) => {
      clearTimeout(connectTimer);
      if (this.stopped) { channel.destroy(); return; }
      this.onSession(new Session(channel, { role: 'client', config: host.mux, sendBudget: host.sendBudget, logger: host.log.child({ part: 'mux', relay: where }) }));
    }, (err: Error & { code?: string }) => {
      clearTimeout(connectTimer);
      socket.destroy();
      this.retry(err);
    });
  }

  private onSession(session: Session): void {
    const { host, where } = this;
    this.session = session;
    host.log.info({ event: 'link.up', relay: where, cipher: host.cipher }, `connected to relay ${where}`);
    const peerLog = new LogLimiter(host.log); // what this relay makes us say, bounded
    const said = { noDestination: false }; // warnings given once per session
    session.onStream = (stream) => host.onStream(this, stream, peerLog, said);
    session.onClose = (err) => {
      peerLog.flush();
      if (this.session === session) this.session = null;
      this.worker = null;
      host.onRegisterDone(this);
      this.retry(err ?? new Error('relay closed the session'));
    };
    host.requestsFor(this).then((requests) => {
      if (this.session !== session) return; // gone while it waited
      requestRegister(session, requests, {
        onResults: (msg) => {
          // A session that reached a worker another link holds is given up before its tunnels count.
          const keep = msg.relay ? host.onWorker(this, msg.relay) : true;
          if (keep && host.onResults(this, msg.tunnels)) this.backoff.reset();
          host.onRegisterDone(this);
        },
        onUpdate: (msg) => { host.onResults(this, msg.tunnels); },
        onError: (e) => {
          host.log.warn({ event: 'control.error', relay: where, err: e.message }, 'bad control message from relay');
          session.destroy(e);
        },
      });
    }, (e: Error) => session.destroy(e));
  }

  /** Whether the session is up. */
  get live(): boolean { return this.session !== null; }

  /** Ends this session and connects again at once, to reach another worker of the relay. */
  redial(why: string): void {
    this.duplicates++;
    this.backoff.reset();
    this.session?.destroy(new Error(why));
  }

  private retry(err: Error & { code?: string }): void {
    if (this.stopped) return;
    const delay = this.backoff.next();
    this.host.log.warn({ event: 'link.down', relay: this.where, code: err.code, error: err.message, retryMs: delay }, `relay ${this.where}: ${err.message}; retrying in ${delay} ms`);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
}
