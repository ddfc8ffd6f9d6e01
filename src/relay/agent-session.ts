import type { Session } from '../mux/index.js';
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
  constructor(readonly agent: AgentSession, readonly tunnelId: string, readonly resource: Resource) {
    this.key = resourceKey(resource);
  }
  get streamCount(): number { return this.agent.session.streamCount; }
}

/** An authenticated agent connection: its key, its mux session and the tunnels it serves. */
export class AgentSession {
  readonly tunnels = new Map<string, TunnelBackend>();
  closed = false;
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
