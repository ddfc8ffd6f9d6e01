import type { Session } from '../mux/index.js';
import { ControlStream } from './control-stream.js';
import { CONTROL_TUNNEL_ID, ControlError, parseRegistered, type RegisteredMessage, type TunnelRequest } from './messages.js';

export interface RegisterRequestOptions {
  /** The relay's answer: a result per tunnel, each validated (the relay may be hostile). */
  onResults: (msg: RegisteredMessage) => void;
  /** A bad line from the relay: the owner ends the session. */
  onError: (error: Error) => void;
}

/**
 * The agent's half of the register exchange (docs/protocol.md "Control stream"); the relay's
 * half is relay-side.ts. Opens the control stream, the session's first, and sends the whole
 * list of tunnels in one register; the relay answers with exactly one `registered` (a second
 * is a protocol error) and half-closes after it, and so does this side.
 */
export function requestRegister(session: Session, tunnels: TunnelRequest[], opts: RegisterRequestOptions): ControlStream {
  const ctl = new ControlStream(session.openStream({ tunnelId: CONTROL_TUNNEL_ID }));
  ctl.onError = opts.onError;
  let answered = false;
  ctl.onLine = (line) => {
    if (answered) throw new ControlError('CONTROL_PROTOCOL', 'control message: only one registered per session');
    answered = true;
    opts.onResults(parseRegistered(line));
  };
  ctl.stream.onEnd = () => ctl.end();
  ctl.send({ t: 'register', tunnels });
  return ctl;
}
