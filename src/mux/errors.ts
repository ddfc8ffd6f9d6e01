import { RelayError } from '../errors.js';

export type MuxErrorCode =
  | 'PROTOCOL_ERROR' // malformed or unknown frame, bad stream id, window increment overflow
  | 'FLOW_CONTROL' // the peer sent beyond the credit we granted
  | 'TOO_MANY_STREAMS' // stream refused: maxStreams reached (either side)
  | 'KEEPALIVE_TIMEOUT' // nothing heard from the peer within keepaliveTimeoutMs
  | 'CONNECTION_LOST' // the channel closed without the authenticated close frame
  | 'STREAM_RESET' // the peer reset the stream (resetCode says why)
  | 'GOING_AWAY' // stream not opened: the peer sent GO_AWAY (or we are closing)
  | 'SESSION_CLOSED' // the session closed (cleanly) while the stream was unfinished
  | 'METADATA_TOO_LARGE' // open metadata does not fit maxOpenMetadata
  | 'DESTROYED'; // the session was destroyed locally

/** Mux failures: `resetCode` carries the peer's RST reason, `goAwayCode` its GO_AWAY code. */
export class MuxError extends RelayError<MuxErrorCode> {
  readonly resetCode?: number;
  readonly goAwayCode?: number;
  constructor(code: MuxErrorCode, message: string, options?: { cause?: unknown; resetCode?: number; goAwayCode?: number }) {
    super(code, message, options);
    if (options?.resetCode !== undefined) this.resetCode = options.resetCode;
    if (options?.goAwayCode !== undefined) this.goAwayCode = options.goAwayCode;
  }
}
