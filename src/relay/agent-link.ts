import type net from 'node:net';
import { LogLimiter, printable, type Logger } from '../log.js';
import { NoiseResponder } from '../channel/responder.js';
import { encodeKey, type KeyPair } from '../crypto/keys.js';
import { SendBudget, Session, type MuxConfig } from '../mux/index.js';
import { CONTROL_TUNNEL_ID, answerRegister, type TunnelRefusal, type TunnelRequest, type TunnelResult, type WorkerInfo } from '../control/index.js';
import { AgentSession } from './agent-session.js';
import type { Metrics } from './metrics.js';
import type { TunnelRegistry } from './registry.js';

export interface AgentLinkOptions {
  staticKey: KeyPair;
  registry: TunnelRegistry;
  metrics: Metrics;
  logger: Logger;
  handshakeTimeoutMs?: number;
  /** A session whose key the relay does not know is ended this long after it opens, register or not. */
  unknownAgentTimeoutMs: number;
  /** Agent sessions at once (0: no limit); a session beyond it is closed as soon as it is authenticated. */
  maxSessions: number;
  /** Sessions of keys the relay does not know, at once: each lives only to hear why it is refused. */
  maxUnknownSessions: number;
  /** Bytes all agent sessions together may queue for sending (to agents) before public sockets stop being read. */
  maxQueuedBytes: number;
  mux?: Partial<MuxConfig>;
  /** This process's place among a cluster's workers, told to agents; absent: a relay of one. */
  worker?: WorkerInfo;
}

/**
 * The relay's end of agent links: the Noise handshake on every socket of the agent listener, a
 * mux session per authenticated agent, and that session's one register (src/control,
 * relay-side). The relay never dials on an agent's say-so: an agent may open the control stream
 * and nothing else.
 */
export class AgentLink {
  /** Every authenticated session, authorized or not: shutdown must end them all. */
  readonly sessions = new Set<AgentSession>();
  /** Every socket on the agent listener, from accept (handshake included) to close. */
  private readonly sockets = new Set<net.Socket>();
  private readonly responder: NoiseResponder;
  /** One budget for every session: the relay's memory is bounded as a whole, not per connection. */
  private readonly sendBudget: SendBudget;
  private readonly log: Logger;
  private closing = false;

  constructor(private readonly opts: AgentLinkOptions) {
    this.log = opts.logger;
    this.sendBudget = new SendBudget(opts.maxQueuedBytes);
    this.responder = new NoiseResponder({ staticKey: opts.staticKey, logger: this.log.child({ part: 'noise' }), handshakeTimeoutMs: opts.handshakeTimeoutMs });
  }

  /** Bytes queued for agents, all sessions together. */
  get queuedBytes(): number {
    return this.sendBudget.queued;
  }

  /** Authorized sessions now live. */
  get authorizedCount(): number {
    let n = 0;
    for (const a of this.sessions) if (a.authorized) n++;
    return n;
  }

  onConnection(socket: net.Socket): void {
    if (this.closing) { socket.destroy(); return; }
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    this.responder.accept(socket).then((channel) => {
      const key = encodeKey(channel.remoteStaticKey);
      const { authz } = this.opts.registry;
      const session = new Session(channel, { role: 'server', config: this.opts.mux, sendBudget: this.sendBudget, logger: this.log.child({ part: 'mux', agent: key.slice(0, 8) }) });
      this.onSession(new AgentSession(key, authz.agentName(key) ?? key.slice(0, 8), remote, session, channel.cipher, authz.knows(key)));
    }, (err: { code?: string }) => {
      // NoiseResponder has logged the failure; count it.
      this.opts.metrics.inc('relay_agent_handshakes_failed_total', { code: err.code ?? 'ERROR' });
    });
  }

  /** No new streams from now on (docs/protocol.md "GO_AWAY"); open ones go on. */
  goAwayAll(): void {
    this.closing = true;
    for (const a of this.sessions) a.session.goAway();
  }

  /**
   * Authenticated close of every session; whatever is still open on the agent listener a moment
   * later (a peer that does not answer CLOSE, a handshake in progress) is destroyed.
   */
  closeAll(): () => void {
    this.closing = true;
    for (const a of this.sessions) a.session.close();
    const grace = setTimeout(() => { for (const s of this.sockets) s.destroy(); }, 1_000);
    grace.unref();
    return () => clearTimeout(grace);
  }

  private onSession(agent: AgentSession): void {
    const { session } = agent;
    const log = this.log.child({ agent: agent.name });
    const refusal = this.overLimit(agent.authorized);
    if (refusal !== null) {
      this.opts.metrics.inc('relay_agent_sessions_refused_total', { reason: refusal });
      log.warn({ event: 'agent.refused', remote: agent.remote, reason: refusal }, 'agent session refused: too many sessions');
      session.destroy(new Error(refusal)); // at once: a flood of them must not wait for CLOSE answers
      return;
    }
    this.sessions.add(agent);
    const peerLog = new LogLimiter(log); // what this agent makes us say, bounded
    log.info({ event: 'agent.connected', remote: agent.remote, cipher: agent.cipher, authorized: agent.authorized }, 'agent connected');
    let control = false;
    session.onStream = (stream) => {
      if (stream.meta.tunnelId !== CONTROL_TUNNEL_ID || control) {
        peerLog.warn({ event: 'agent.unexpected_stream', tunnelId: printable(stream.meta.tunnelId, 64) }, 'agent opened an unexpected stream; reset');
        stream.destroy();
        return;
      }
      control = true;
      agent.control = answerRegister(stream, {
        register: (tunnels, meta) => { agent.openMeta = meta; return this.register(agent, tunnels, log); },
        onAnswered: () => {
          agent.answered = true;
          if (!agent.reconsiderPending || agent.closed) return;
          // A reload came while this register was being answered: its update follows the answer.
          agent.reconsiderPending = false;
          this.reconsider(agent).catch((e: Error) => log.error({ event: 'control.error', err: e.message }, 'reconsidering tunnels after a reload failed'));
        },
        endAfterAnswer: !agent.authorized,
        worker: this.opts.worker,
        onError: (e) => {
          log.warn({ event: 'control.error', err: e.message }, 'bad control stream; closing session');
          session.destroy(e);
        },
      });
      // An unknown key has heard why once the control stream is done: end the session.
      if (!agent.authorized) stream.onClose = () => session.close();
    };
    let deadline: NodeJS.Timeout | undefined;
    if (!agent.authorized) {
      deadline = setTimeout(() => session.destroy(new Error('unknown agent key: session deadline reached')), this.opts.unknownAgentTimeoutMs);
      deadline.unref();
    }
    session.onClose = (err) => {
      clearTimeout(deadline);
      peerLog.flush();
      agent.closed = true;
      this.sessions.delete(agent);
      this.opts.registry.unregisterAll(agent);
      log.info({ event: 'agent.disconnected', remote: agent.remote, error: err?.message }, 'agent disconnected');
    };
  }

  /**
   * After a config reload: every live authorized session's tunnels are looked at again
   * (registry.ts `reconsider`); each change is logged, counted and sent to its agent as one
   * `update`. Sessions are never closed for it.
   */
  async reconsiderAll(): Promise<{ revoked: number; granted: number }> {
    const total = { revoked: 0, granted: 0 };
    for (const agent of [...this.sessions]) {
      if (!agent.authorized || agent.closed) continue;
      // A register still being answered: its answer comes first, then this (reconsiderAnswered).
      if (!agent.answered) { agent.reconsiderPending = true; continue; }
      const n = await this.reconsider(agent);
      total.revoked += n.revoked;
      total.granted += n.granted;
    }
    return total;
  }

  /** One session's tunnels under the config in force: logged, counted, told to the agent. */
  private async reconsider(agent: AgentSession): Promise<{ revoked: number; granted: number }> {
    const changes = await this.opts.registry.reconsider(agent);
    const n = { revoked: 0, granted: 0 };
    const log = this.log.child({ agent: agent.name });
    for (const r of changes) {
      if (r.ok) { n.granted++; log.info({ event: 'tunnel.granted', tunnel: r.id }, 'tunnel granted by the reloaded config'); continue; }
      n.revoked++;
      this.opts.metrics.inc('relay_tunnel_errors_total', { code: r.code });
      log.warn({ event: 'tunnel.revoked', tunnel: r.id, message: r.message }, 'tunnel revoked by the reloaded config');
    }
    // Only an agent that reads updates hears of them (an older one takes any line after
    // `registered` as a protocol error); either way the relay has acted on them.
    if (changes.length > 0 && agent.openMeta >= 2) agent.control?.send({ t: 'update', tunnels: changes });
    if (!this.opts.registry.authz.knows(agent.key) && !agent.closed) {
      // A key taken out of the config keeps nothing, not even an idle session.
      log.warn({ event: 'agent.removed', remote: agent.remote }, 'agent key no longer in the config; closing its session');
      agent.session.close();
    }
    return n;
  }

  /** Why one more session must be refused, or null. */
  private overLimit(authorized: boolean): 'too_many_sessions' | 'too_many_unknown' | null {
    const { maxSessions, maxUnknownSessions } = this.opts;
    if (maxSessions > 0 && this.sessions.size >= maxSessions) return 'too_many_sessions';
    if (!authorized && this.sessions.size - this.authorizedCount >= maxUnknownSessions) return 'too_many_unknown';
    return null;
  }

  private async register(agent: AgentSession, tunnels: Array<TunnelRequest | TunnelRefusal>, log: Logger): Promise<TunnelResult[]> {
    const results = await this.opts.registry.register(agent, tunnels);
    for (const r of results) {
      if (r.ok) continue;
      this.opts.metrics.inc('relay_tunnel_errors_total', { code: r.code });
      log.warn({ event: 'tunnel.refused', tunnel: r.id, code: r.code, message: r.message }, 'tunnel refused');
    }
    return results;
  }
}
