import type { Socket } from 'node:net';

/** What an incremental parser gives back once its prefix is complete. */
export interface PrefixDone<T> { value: T; rest?: Buffer }

export interface ReadPrefixOptions {
  timeoutMs: number;
  /** The error for a deadline passed, and for a stream that ended first. */
  timeout: () => Error;
  ended: () => Error;
}

/**
 * Reads the start of a connection (a ClientHello, a PROXY header) with an incremental parser:
 * `push` takes each chunk and answers null until the prefix is complete, or throws. A deadline
 * rejects with `timeout()`, an end first with `ended()`, a socket error with that error. When it
 * settles, either way, its listeners and timer are gone and the socket is paused; `rest` (bytes
 * past the prefix) is put back on the socket for the next reader. The caller keeps its own
 * 'error' listener.
 */
export function readPrefix<T>(socket: Socket, push: (chunk: Buffer) => PrefixDone<T> | null, opts: ReadPrefixOptions): Promise<T> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (err: Error | null, done?: PrefixDone<T>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onEnd);
      socket.removeListener('error', onError);
      socket.pause();
      if (done?.rest && done.rest.length > 0) socket.unshift(done.rest);
      if (err) reject(err);
      else resolve(done!.value);
    };
    const onData = (chunk: Buffer): void => {
      let done: PrefixDone<T> | null;
      try {
        done = push(chunk);
      } catch (err) {
        settle(err as Error);
        return;
      }
      if (done) settle(null, done);
    };
    const onEnd = (): void => settle(opts.ended());
    const onError = (err: Error): void => settle(err);
    const timer = setTimeout(() => settle(opts.timeout()), opts.timeoutMs);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
    if (socket.destroyed || socket.readableEnded) onEnd();
    else socket.resume();
  });
}
