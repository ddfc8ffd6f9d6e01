import type { Session } from '../mux/index.js';
import { ControlStream } from './control-stream.js';
import { CONTROL_TUNNEL_ID, OPEN_META_VERSION, parseRegistered, parseUpdate, type RegisteredMessage, type TunnelRequest, type UpdateMessage } from './messages.js';

export interface RegisterRequestOptions {
  /** The relay's answer: a result per tunnel, each validated (the relay may be hostile). */
  onResults: (msg: RegisteredMessage) => void;
  /** A later change the relay reports (a tunnel granted after a reload, or revoked), validated as the answer is. */
  onUpdate: (msg: UpdateMessage) => void;
  /** A bad line from the relay: the owner ends the session. */
  onError: (error: Error) => void;
}

/**
 * The agent's half of the register exchange (docs/protocol.md "Control stream"); the relay's
 * half is relay-side.ts. Opens the control stream, the session's first, and sends the whole
 * list of tunnels in one register; the relay answers with exactly one `registered` (a second
 * is a protocol error), then any number of `update`s for as long as the session lives.
 */
export function requestRegister(session: Session, tunnels: TunnelRequest[], opts: RegisterRequestOptions): ControlStream {
  const ctl = new ControlStream(session.openStream({ tunnelId: CONTROL_TUNNEL_ID }));
  ctl.onError = opts.onError;
  let answered = false;
  ctl.onLine = (line) => {
    if (answered) return opts.onUpdate(parseUpdate(line));
    answered = true;
    opts.onResults(parseRegistered(line));
  };
  ctl.stream.onEnd = () => ctl.end();
  ctl.send({ t: 'register', meta: OPEN_META_VERSION, tunnels });
  return ctl;
}
