import net from 'node:net';
import type { HostPort } from '../net/address.js';
import { ResetCode, splice, type SpliceOptions, type Stream } from '../mux/index.js';

export interface DialOptions extends SpliceOptions {
  /** The target could not be reached; the stream has been reset with CONNECT_FAILED. */
  onConnectError?: (error: NodeJS.ErrnoException) => void;
}

/**
 * Dials `target` and splices the new socket onto `stream`. A dial that fails resets the stream
 * with CONNECT_FAILED (docs/protocol.md "RST"), so the far end can tell an unreachable target
 * from a failure mid-stream. Data the stream receives while the dial is in progress waits in the
 * stream, within its window.
 */
export function dialAndSplice(stream: Stream, target: HostPort, opts: DialOptions = {}): net.Socket {
  const socket = net.connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
  let connected = false;
  socket.once('connect', () => { connected = true; });
  // Registered before splice's own handler, so that the reset carries the dial's own code.
  socket.once('error', (e: NodeJS.ErrnoException) => {
    if (connected) return;
    stream.reset(ResetCode.CONNECT_FAILED, e);
    opts.onConnectError?.(e);
  });
  splice(socket, stream, opts);
  return socket;
}
