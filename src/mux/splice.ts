import type { Socket } from 'node:net';
import { ResetCode } from './frame.js';
import type { Stream } from './stream.js';

const EMPTY = Buffer.alloc(0);
/** The longest a throttle pauses a side at once (a tiny budget's debt is paid off in steps). */
const MAX_WAIT_MS = 10_000;

export interface SpliceOptions {
  /** Called once both the socket and the stream are finished; `err` is the first failure seen. */
  onDone?: (err?: Error) => void;
  /** Bandwidth caps: `in` for bytes read from the socket, `out` for bytes read from the stream. */
  throttle?: { in?: Throttle; out?: Throttle };
}

/** A byte budget (net's ByteThrottle): `spend(n)` answers how many milliseconds to pause reading. */
interface Throttle { spend(n: number): number }

/**
 * Joins a TCP socket and a mux stream in both directions, for the relay and the agent alike.
 * Backpressure: the socket is paused while the stream's send queue is full, and the stream is
 * paused (so it grants no credit) while the socket's write buffer is full. Half-close: socket
 * 'end' → `stream.end()`, stream end → `socket.end()`. Failure: a reset stream resets the socket
 * (TCP RST, so a truncated transfer never looks complete), a failed socket resets the stream.
 * The socket must have been created with `allowHalfOpen: true`.
 */
export function splice(socket: Socket, stream: Stream, opts: SpliceOptions = {}): void {
  if (!socket.allowHalfOpen) throw new TypeError('splice: the socket must be created with allowHalfOpen: true');
  socket.setNoDelay(true);
  let firstError: Error | undefined;
  let socketEnded = false; // the socket's peer half-closed
  let streamEnded = false; // the stream's peer half-closed
  let socketClosed = false;
  let streamClosed = false;
  let done = false;
  const finish = (): void => {
    if (done || !socketClosed || !streamClosed) return;
    done = true;
    opts.onDone?.(firstError);
  };

  // Each side is paused for up to two reasons, the other side's backpressure and the throttle;
  // it reads again only when neither holds. Without a throttle this is the plain pause/resume.
  const tin = opts.throttle?.in;
  const tout = opts.throttle?.out;
  let socketFull = false; // the stream's send queue is full
  let socketWait: NodeJS.Timeout | undefined;
  let streamFull = false; // the socket's write buffer is full
  let streamWait: NodeJS.Timeout | undefined;
  const resumeSocket = (): void => { if (!socketFull && socketWait === undefined) socket.resume(); };
  const resumeStream = (): void => { if (!streamFull && streamWait === undefined) stream.resume(); };
  const holdSocket = (ms: number): void => {
    if (ms <= 0 || socketWait !== undefined) return;
    socket.pause();
    socketWait = setTimeout(() => { socketWait = undefined; resumeSocket(); }, Math.min(ms, MAX_WAIT_MS));
  };
  const holdStream = (ms: number): void => {
    if (ms <= 0 || streamWait !== undefined) return;
    stream.pause();
    streamWait = setTimeout(() => { streamWait = undefined; resumeStream(); }, Math.min(ms, MAX_WAIT_MS));
  };

  socket.on('data', (chunk: Buffer) => {
    if (!stream.write(chunk)) { socketFull = true; socket.pause(); }
    if (tin !== undefined) holdSocket(tin.spend(chunk.length));
  });
  socket.on('end', () => {
    // A reset that reaches a socket while it is paused surfaces as end-of-file (the kernel
    // reports the shutdown before the error), and forwarding that as a FIN would make a
    // truncated transfer look complete. A peer that really half-closed still takes a write; a
    // reset connection refuses it: probe with an empty write before passing the FIN on. (Once
    // our side has ended too there is nothing left to probe with.)
    if (socket.writableEnded) return forwardEnd();
    socket.write(EMPTY, (err) => { if (!err) forwardEnd(); }); // on error, 'close' resets the stream
  });
  const forwardEnd = (): void => {
    socketEnded = true;
    stream.end();
  };
  socket.on('error', (err) => {
    firstError ??= err;
  });
  socket.on('close', () => {
    socketClosed = true;
    clearTimeout(socketWait);
    clearTimeout(streamWait);
    // A clean close leaves the stream to finish its FIN exchange; anything else resets it.
    if (!stream.destroyed && (firstError !== undefined || !socketEnded || !streamEnded)) {
      stream.reset(firstError ? ResetCode.INTERNAL : ResetCode.CANCEL, firstError);
    }
    finish();
  });
  socket.on('drain', () => { streamFull = false; resumeStream(); });

  stream.onData = (chunk) => {
    if (!socket.write(chunk)) { streamFull = true; stream.pause(); }
    if (tout !== undefined) holdStream(tout.spend(chunk.length));
  };
  stream.onDrain = () => { socketFull = false; resumeSocket(); };
  stream.onEnd = () => {
    streamEnded = true;
    socket.end();
  };
  stream.onClose = (err) => {
    streamClosed = true;
    clearTimeout(socketWait);
    clearTimeout(streamWait);
    if (err) {
      firstError ??= err;
      // A socket still connecting has nothing to reset, and resetAndDestroy() would keep it
      // until the connect completes (for an unresponsive target, the OS's SYN retries).
      if (socket.connecting) socket.destroy();
      else if (!socket.destroyed) socket.resetAndDestroy();
    }
    finish();
  };
  // Deliver what arrived before the splice (e.g. while the agent dialed its target), and read a
  // socket that its previous owner left paused (the relay's ClientHello reader does); a tunnel
  // whose byte budget is in debt starts paused, so new connections cannot overdraw it.
  if (tout !== undefined) holdStream(tout.spend(0));
  if (tin !== undefined) holdSocket(tin.spend(0));
  resumeStream();
  resumeSocket();
}
