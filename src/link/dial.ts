import net from 'node:net';
import type { HostPort } from '../net/index.js';
import { ResetCode, splice, type SpliceOptions, type Stream } from '../mux/index.js';

export interface DialOptions extends SpliceOptions {
  /** A dial not connected within this fails as ETIMEDOUT (default 10 000 ms). */
  connectTimeoutMs?: number;
  /** Once connected, close the socket after this long idle both ways (0, the default: never). */
  idleTimeoutMs?: number;
  /** The target could not be reached; the stream has been reset with CONNECT_FAILED. */
  onConnectError?: (error: NodeJS.ErrnoException) => void;
  /** Bytes the target gets before any of the stream's (a PROXY protocol header), in one write. */
  header?: Buffer;
}

/**
 * Dials `target` and splices the new socket onto `stream`. A dial that fails or times out resets
 * the stream with CONNECT_FAILED (docs/protocol.md "RST"), so the far end can tell an unreachable
 * target from a failure mid-stream. Data the stream receives while the dial is in progress waits
 * in the stream, within its window.
 */
export function dialAndSplice(stream: Stream, target: HostPort, opts: DialOptions = {}): net.Socket {
  const socket = net.connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
  let connected = false;
  // One socket timer: the connect deadline, then the idle timeout (Node re-arms it on activity).
  socket.setTimeout(opts.connectTimeoutMs ?? 10_000, () => {
    if (!connected) socket.destroy(Object.assign(new Error(`connect to ${target.host}:${target.port} timed out`), { code: 'ETIMEDOUT' }));
    else socket.destroy();
  });
  socket.once('connect', () => {
    connected = true;
    socket.setTimeout(opts.idleTimeoutMs ?? 0);
  });
  // The header goes first: a socket still connecting keeps every write, in call order, until it
  // connects (Writable buffers each write behind the pending one), and splice() below is the
  // first that may write stream bytes (it delivers what the stream already holds at once).
  if (opts.header) socket.write(opts.header);
  // Registered before splice's own handler, so that the reset carries the dial's own code.
  socket.once('error', (e: NodeJS.ErrnoException) => {
    if (connected) return;
    stream.reset(ResetCode.CONNECT_FAILED, e);
    opts.onConnectError?.(e);
  });
  splice(socket, stream, opts);
  return socket;
}
