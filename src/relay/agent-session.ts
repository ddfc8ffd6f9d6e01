import type { Session, Stream } from '../mux/index.js';
import { CidrList } from '../net/index.js';
import type { ControlStream, TunnelRequest } from '../control/index.js';
import type { Backend } from './router.js';

/** What a tunnel serves on the relay: a host name (or `*.` pattern) on the TLS listener, or a TCP port. */
export type Resource = { type: 'tls'; hostname: string } | { type: 'tcp'; port: number };

/** The resource as one string: the key of leases and per-tunnel counts, and its name in logs. */
export function resourceKey(r: Resource): string {
  return r.type === 'tls' ? `host:${r.hostname}` : `port:${r.port}`;
}

/** One registered tunnel of one agent session: what a pool member is. */
export class TunnelBackend implements Backend {
  readonly key: string;
  /** The agent's own narrowing of who may connect (its register entry). */
  readonly allow: CidrList;
  readonly deny: CidrList;
  /** The streams this tunnel carries now: a revoked tunnel resets them. */
  readonly streams = new Set<Stream>();
  constructor(readonly agent: AgentSession, readonly request: TunnelRequest, readonly resource: Resource) {
    this.key = resourceKey(resource);
    this.allow = CidrList.parse(request.allow ?? []);
    this.deny = CidrList.parse(request.deny ?? []);
  }
  get tunnelId(): string { return this.request.id; }
  get streamCount(): number { return this.agent.session.streamCount; }
}

/** An authenticated agent connection: its key, its mux session and the tunnels it serves. */
export class AgentSession {
  readonly tunnels = new Map<string, TunnelBackend>();
  /** Tunnels asked for and refused (or revoked): a config reload looks at them again. */
  readonly refused = new Map<string, TunnelRequest>();
  /** The OPEN metadata layout the agent reads (its register's `meta`). */
  openMeta = 1;
  /** The control stream once the agent opened it: where updates go. */
  control: ControlStream | null = null;
  /** `registered` has been sent: an `update` may follow it (never precede it). */
  answered = false;
  /** A reload came while the register was being answered: look at the tunnels again once it is. */
  reconsiderPending = false;
  closed = false;
  /** When the session was authenticated (ms since the epoch). */
  readonly since = Date.now();
  constructor(
    readonly key: string,
    /** The config's name for the key, else the key's first 8 characters (logs, status). */
    readonly name: string,
    readonly remote: string,
    readonly session: Session,
    readonly cipher: string,
    /** Whether the config (or --allow-any-agent) knows the key; an unknown one only learns why it is refused. */
    readonly authorized: boolean,
  ) {}
}
