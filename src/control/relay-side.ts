import type { Stream } from '../mux/index.js';
import { ControlStream } from './control-stream.js';
import { ControlError, parseRegister, type TunnelRefusal, type TunnelRequest, type TunnelResult, type WorkerInfo } from './messages.js';

export interface RegisterAnswerOptions {
  /** Answers the session's one register, a result per requested tunnel. */
  register: (tunnels: Array<TunnelRequest | TunnelRefusal>, meta: number) => Promise<TunnelResult[]>;
  /** Half-close after the answer even if the agent keeps its side open (an unknown key learns why, then goes). */
  endAfterAnswer: boolean;
  /** Which worker answers, for an agent to reach every one (README "Workers"). */
  worker?: WorkerInfo;
  /** The answer is sent: from now on `update`s may follow it. */
  onAnswered?: () => void;
  /** A bad line, a second register, or a register that could not be answered: the owner ends the session. */
  onError: (error: Error) => void;
}

/**
 * The relay's half of the register exchange (docs/protocol.md "Control stream"); the agent's
 * half is agent-side.ts. Exactly one register per session: a second could race the first (a
 * TCP claim awaits its bind) and overwrite a tunnel it holds, and would lift the per-session cap.
 * The agent may half-close right after its register, even in the same message: the answer
 * still goes out, and this side half-closes after it.
 */
export function answerRegister(stream: Stream, opts: RegisterAnswerOptions): ControlStream {
  const ctl = new ControlStream(stream);
  let state: 'waiting' | 'answering' | 'answered' = 'waiting';
  let peerEnded = false;
  ctl.onError = opts.onError;
  ctl.onLine = (line) => {
    if (state !== 'waiting') throw new ControlError('CONTROL_PROTOCOL', 'control message: only one register per session');
    const msg = parseRegister(line);
    state = 'answering';
    opts.register(msg.tunnels, msg.meta).then((results) => {
      state = 'answered';
      ctl.send({ t: 'registered', tunnels: results, ...(opts.worker ? { relay: opts.worker } : {}) });
      opts.onAnswered?.();
      if (opts.endAfterAnswer || peerEnded) ctl.end();
    }).catch((e: unknown) => opts.onError(e instanceof Error ? e : new Error(String(e))));
  };
  stream.onEnd = () => {
    peerEnded = true;
    if (state !== 'answering') ctl.end();
  };
  return ctl;
}
