import type { Session } from '../mux/session.js';
import type { Backend } from './router.js';

/** One registered tunnel of one agent session: what a pool member is. */
export class TunnelBackend implements Backend {
  constructor(readonly agent: AgentSession, readonly tunnelId: string, readonly resource: string) {}
  get streamCount(): number { return this.agent.session.streamCount; }
}

/** An authenticated agent connection: its key, its mux session and the tunnels it serves. */
export class AgentSession {
  readonly tunnels = new Map<string, TunnelBackend>();
  closed = false;
  constructor(
    readonly key: string,
    readonly name: string,
    readonly remote: string,
    readonly session: Session,
    readonly cipher: string,
  ) {}
  get streamCount(): number { return this.session.streamCount; }
}
