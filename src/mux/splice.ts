import type { Socket } from 'node:net';
import { ResetCode } from './frame.js';
import type { Stream } from './stream.js';

const EMPTY = Buffer.alloc(0);

export interface SpliceOptions {
  /** Called once both the socket and the stream are finished; `err` is the first failure seen. */
  onDone?: (err?: Error) => void;
}

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

  socket.on('data', (chunk: Buffer) => {
    if (!stream.write(chunk)) socket.pause();
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
    // A clean close leaves the stream to finish its FIN exchange; anything else resets it.
    if (!stream.destroyed && (firstError !== undefined || !socketEnded || !streamEnded)) {
      stream.reset(firstError ? ResetCode.INTERNAL : ResetCode.CANCEL, firstError);
    }
    finish();
  });
  socket.on('drain', () => stream.resume());

  stream.onData = (chunk) => {
    if (!socket.write(chunk)) stream.pause();
  };
  stream.onDrain = () => socket.resume();
  stream.onEnd = () => {
    streamEnded = true;
    socket.end();
  };
  stream.onClose = (err) => {
    streamClosed = true;
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
  // socket that its previous owner left paused (the relay's ClientHello reader does).
  stream.resume();
  socket.resume();
}
