import type net from 'node:net';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { printable, type LogLimiter, type Logger } from '../log.js';
import type { CipherName } from '../channel/index.js';
import type { KeyPair } from '../crypto/keys.js';
import { SendBudget, type MuxConfig, type Stream } from '../mux/index.js';
import { ResetCode } from '../mux/frame.js';
import { MAX_TUNNELS_PER_AGENT, type TunnelRequest, type TunnelResult, type WorkerInfo } from '../control/index.js';
import { dialAndSplice } from '../link/index.js';
import { formatHostPort, type HostPort, TokenBucket } from '../net/index.js';
import type { BackoffOptions } from './backoff.js';
import { outcomeOf, type ConnectionBook } from './connection-book.js';
import { proxyHeaderFor } from './proxy-header.js';
import { RelayLink, type LinkHost } from './relay-link.js';
import type { TunnelSpec } from './tunnels.js';

/** How long a link that could only reach a worker another link holds stays there before it tries again. */
const REDIAL_LATER_MS = 3_000;

export interface AgentOptions {
  /**
   * The relays' agent listeners. A host name stands for every address it resolves to, each one
   * relay (looked up again every `resolveIntervalMs`, so relays that come and go are followed).
   */
  relays: HostPort[];
  /** The relays' static public key, pinned (Noise IK: the handshake fails against any other). */
  relayKey: Buffer;
  staticKey: KeyPair;
  cipher: CipherName;
  tunnels: TunnelSpec[];
  logger: Logger;
  mux?: Partial<MuxConfig>;
  backoff?: BackoffOptions;
  connectTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  /** How often relay host names are looked up again (default 30 000 ms). */
  resolveIntervalMs?: number;
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
  /** Where the inspector's connections are written (README "Inspector"); absent: nowhere. */
  book?: ConnectionBook;
}

/**
 * The private side: dials out to each relay (so it works behind NAT), authenticates, registers
 * its tunnels on every one, and for every stream a relay opens dials the local target that its
 * own configuration names for that tunnel. A relay names a tunnel, never an address. Each relay
 * is a link of its own (relay-link.ts) that reconnects with its own backoff; a TCP tunnel asks
 * every relay for the port the first one gave it, so that it has one public port everywhere.
 */
export class AgentClient implements LinkHost {
  private readonly byId = new Map<string, TunnelSpec>();
  /** Ports a relay gave us, asked for on every other relay and again after a reconnect (even across relay restarts). */
  private readonly gotPorts = new Map<string, number>();
  /** One link per relay address, by `HOST:PORT`. */
  private readonly links = new Map<string, RelayLink>();
  /** The link whose register settles the TCP ports the others will ask for, while it is in flight. */
  private leader: { link: RelayLink; done: Promise<void>; resolve: () => void } | null = null;
  private resolveTimer: NodeJS.Timeout | null = null;
  readonly log: Logger;
  private stopped = false;
  private readonly locals = new Set<net.Socket>();
  private readonly dials: TokenBucket | null;
  /** One budget for all sessions: local reads pause when the relays do not take what they queue. */
  readonly sendBudget: SendBudget;
  /** Called per tunnel and relay after each (re)registration or update, live or refused (for tests, bench). */
  onTunnel: (result: { id: string; ok: boolean; relay?: string; port?: number; url?: string; code?: string }) => void = () => {};

  constructor(private readonly opts: AgentOptions) {
    this.log = opts.logger;
    this.sendBudget = new SendBudget(opts.maxQueuedBytes ?? 64 * 1024 * 1024);
    const rate = opts.dialRate ?? 5000;
    this.dials = rate > 0 ? new TokenBucket(rate) : null;
    for (const t of opts.tunnels.slice(0, MAX_TUNNELS_PER_AGENT)) this.byId.set(t.id, t);
  }

  get relayKey(): Buffer { return this.opts.relayKey; }
  get staticKey(): KeyPair { return this.opts.staticKey; }
  get cipher(): CipherName { return this.opts.cipher; }
  get mux(): Partial<MuxConfig> | undefined { return this.opts.mux; }
  get backoff(): BackoffOptions | undefined { return this.opts.backoff; }
  get connectTimeoutMs(): number | undefined { return this.opts.connectTimeoutMs; }
  get handshakeTimeoutMs(): number | undefined { return this.opts.handshakeTimeoutMs; }

  start(): void {
    // A relay takes at most MAX_TUNNELS_PER_AGENT per session: say so now, for each one left out.
    for (const t of this.opts.tunnels.slice(MAX_TUNNELS_PER_AGENT)) {
      const message = `at most ${MAX_TUNNELS_PER_AGENT} tunnels per agent; this one is not registered`;
      this.log.error({ event: 'tunnel.error', code: 'TOO_MANY_TUNNELS', message, tunnel: t.id }, `tunnel ${t.id} refused: ${message}`);
      this.onTunnel({ id: t.id, ok: false, code: 'TOO_MANY_TUNNELS' });
    }
    void this.resolve();
  }

  /** Stops reconnecting, closes every session (authenticated close) and every local connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resolveTimer) clearTimeout(this.resolveTimer);
    for (const s of this.locals) s.destroy();
    await Promise.all([...this.links.values()].map((l) => l.stop()));
  }

  /**
   * Looks the relay names up (an address stands for itself), starts a link for each address not
   * yet linked and stops the links of a name's addresses that are gone; then again later. A
   * lookup that fails keeps the links the name had.
   */
  private async resolve(): Promise<void> {
    const wanted = new Map<string, HostPort>();
    const failedNames = new Set<string>();
    await Promise.all(this.opts.relays.map(async (r) => {
      if (isIP(r.host) !== 0) { wanted.set(formatHostPort(r.host, r.port), r); return; }
      try {
        for (const a of await lookup(r.host, { all: true })) wanted.set(formatHostPort(a.address, r.port), { host: a.address, port: r.port });
      } catch (e) {
        failedNames.add(formatHostPort(r.host, r.port));
        const err = e as NodeJS.ErrnoException;
        this.log.warn({ event: 'link.down', relay: formatHostPort(r.host, r.port), code: err.code, error: err.message, retryMs: this.opts.resolveIntervalMs ?? 30_000 },
          `relay ${r.host}: ${err.message}; looking it up again later`);
      }
    }));
    if (this.stopped) return;
    for (const [where, address] of wanted) {
      if (this.links.has(where)) continue;
      const link = new RelayLink(this, address, where);
      this.links.set(where, link);
      link.start();
    }
    // Addresses a name no longer resolves to (a pod replaced): only when every lookup answered.
    if (failedNames.size === 0) {
      for (const [k, link] of this.links) {
        if (wanted.has(link.where)) continue;
        this.links.delete(k);
        this.log.info({ event: 'link.removed', relay: link.where }, `relay ${link.where} no longer in DNS; closing its session`);
        void link.stop();
      }
    }
    this.resolveTimer = setTimeout(() => void this.resolve(), this.opts.resolveIntervalMs ?? 30_000);
    this.resolveTimer.unref();
  }

  /**
   * A link's register entries. While a TCP tunnel has no port yet (port 0, none given by any
   * relay), one link at a time registers, so that the port the first relay gives is the one
   * every other relay is asked for.
   */
  async requestsFor(link: RelayLink): Promise<TunnelRequest[]> {
    while (this.needsPorts() && this.leader !== null && this.leader.link !== link) await this.leader.done;
    if (this.needsPorts() && this.leader === null) {
      let resolve!: () => void;
      const done = new Promise<void>((r) => { resolve = r; });
      this.leader = { link, done, resolve };
    }
    return [...this.byId.values()].map((t) => this.request(t));
  }

  /**
   * A relay of several workers (README "Workers"): one link per worker, so that whichever worker
   * takes a public connection has a session of this agent. A link that reached a worker another
   * link already holds dials again (the relay hands connections to its workers in turn); after
   * a few tries it stays where it is.
   */
  onWorker(link: RelayLink, info: WorkerInfo): boolean {
    if (this.stopped) return false;
    link.worker = info.worker;
    const siblings = [...this.links.entries()].filter(([, l]) => l.where === link.where);
    for (const [k, l] of siblings) {
      if (l.slot < info.workers) continue;
      this.links.delete(k); // the relay has fewer workers now
      void l.stop();
    }
    for (let slot = 1; slot < info.workers; slot++) {
      const k = `${link.where}#${slot}`;
      if (this.links.has(k)) continue;
      const more = new RelayLink(this, link.address, link.where, slot);
      this.links.set(k, more);
      more.start();
    }
    const taken = siblings.some(([, l]) => l !== link && l.live && l.worker === info.worker);
    if (!taken) { link.duplicates = 0; return true; }
    if (link.duplicates < 2 * info.workers) {
      link.redial(`worker ${info.worker} already has a session of this agent; dialing again for another`);
      return false;
    }
    // The other workers are not taking connections now (one restarting): serve from here, and
    // try again in a while, so that a worker that comes back gets this agent's session again.
    const timer = setTimeout(() => {
      const still = [...this.links.values()].some((l) => l !== link && l.where === link.where && l.live && l.worker === link.worker);
      if (!this.stopped && link.live && still) { link.duplicates = 0; link.redial('looking for a worker without a session of this agent'); }
    }, REDIAL_LATER_MS);
    timer.unref();
    return true;
  }

  onRegisterDone(link: RelayLink): void {
    if (this.leader?.link !== link) return;
    this.leader.resolve();
    this.leader = null;
  }

  private needsPorts(): boolean {
    for (const t of this.byId.values()) if (t.type === 'tcp' && t.port === 0 && !this.gotPorts.has(t.id)) return true;
    return false;
  }

  private request(t: TunnelSpec): TunnelRequest {
    const policy = { ...(t.allow?.length ? { allow: t.allow } : {}), ...(t.deny?.length ? { deny: t.deny } : {}) };
    if (t.type === 'tls') return { id: t.id, type: 'tls', hostname: t.hostname, ...policy };
    return { id: t.id, type: 'tcp', port: t.port || this.gotPorts.get(t.id) || 0, ...policy };
  }

  /** A relay's word on tunnels (its answer, or a later update); true when any is live. */
  onResults(link: RelayLink, results: TunnelResult[]): boolean {
    const relay = link.where;
    let anyOk = false;
    for (const r of results) {
      const spec = this.byId.get(r.id);
      if (!spec) continue; // a result for a tunnel we never asked for: ignore it
      if (!r.ok) {
        this.log.error({ event: 'tunnel.error', relay, code: r.code, message: r.message, tunnel: r.id }, `tunnel ${r.id} refused by ${relay}: ${r.message}`);
        this.onTunnel({ id: r.id, ok: false, relay, code: r.code });
        continue;
      }
      if (r.type !== spec.type || (r.type === 'tls' && spec.type === 'tls' && r.hostname !== spec.hostname)) {
        // A relay that answers for something else is broken or hostile: believe nothing of it.
        this.log.error({ event: 'tunnel.error', relay, code: 'BAD_REPLY', message: 'the relay answered for another tunnel', tunnel: r.id }, `tunnel ${r.id}: ${relay} answered for another tunnel`);
        this.onTunnel({ id: r.id, ok: false, relay, code: 'BAD_REPLY' });
        continue;
      }
      anyOk = true;
      const target = formatHostPort(spec.target.host, spec.target.port);
      if (r.type === 'tls') {
        this.log.info({ event: 'tunnel.ready', relay, ...(link.worker !== null ? { worker: link.worker } : {}), type: 'tls', hostname: r.hostname, url: r.url, target }, `tunnel ready on ${relay}: ${r.url} → ${target}`);
        this.onTunnel({ id: r.id, ok: true, relay, url: r.url });
      } else {
        // The first port a relay gives is the tunnel's, asked for everywhere from then on.
        if (spec.type === 'tcp' && spec.port === 0 && !this.gotPorts.has(r.id)) this.gotPorts.set(r.id, r.port);
        this.log.info({ event: 'tunnel.ready', relay, ...(link.worker !== null ? { worker: link.worker } : {}), type: 'tcp', port: r.port, address: r.address, target }, `tunnel ready on ${relay}: tcp://${r.address} → ${target}`);
        this.onTunnel({ id: r.id, ok: true, relay, port: r.port });
      }
    }
    return anyOk;
  }

  /** A customer connection: dial this tunnel's own configured target, splice. */
  onStream(link: RelayLink, stream: Stream, peerLog: LogLimiter, said: { noDestination: boolean }): void {
    const spec = this.byId.get(stream.meta.tunnelId);
    if (!spec) {
      peerLog.warn({ event: 'stream.unknown_tunnel', tunnelId: printable(stream.meta.tunnelId, 64) }, 'relay opened a stream for an unknown tunnel; reset');
      stream.reset(ResetCode.BAD_METADATA);
      return;
    }
    // What the relay (or the public through it) opens costs local sockets: bounded in number and rate.
    const refusal = this.locals.size >= (this.opts.maxLocalConns ?? 4096) ? 'max_local_conns' : this.dials?.take() === false ? 'dial_rate' : null;
    const book = this.opts.book;
    if (refusal !== null) {
      peerLog.warn({ event: 'stream.refused', tunnel: spec.id, reason: refusal }, `stream refused: ${refusal}`);
      if (book) book.ended(book.opened(link.where, spec, stream), 'refused', refusal);
      stream.reset(ResetCode.REFUSED_TOO_MANY);
      return;
    }
    const entry = book?.opened(link.where, spec, stream);
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
        if (entry) book!.ended(entry, 'unreachable', e.code ?? null);
        peerLog.warn({ event: 'target.unreachable', tunnel: spec.id, target: formatHostPort(target.host, target.port), code: e.code }, 'local target unreachable');
      },
      onDone: entry && ((err) => { const o = outcomeOf(err, local); book!.ended(entry, o.outcome, o.code); }),
    });
    this.locals.add(local);
    local.once('close', () => this.locals.delete(local));
  }
}
