import type { Socket } from 'node:net';
import { SniError } from './errors.js';
import { ClientHelloReader, type ClientHelloResult, type ReaderOptions } from './reader.js';

export const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Reads a ClientHello from a socket (data events), with a deadline (default 10 s) that rejects
 * with SniError('TIMEOUT'); removes its listeners and pauses the socket when done (resolved or
 * rejected), so the caller can forward `bytes` then pipe the rest. Never leaves a timer behind.
 * A stream that ends first rejects with MALFORMED; a socket error rejects with that error. The
 * caller keeps its own 'error' listener on the socket: this one is gone once the promise settles.
 */
export function readClientHello(
  socket: Socket,
  opts: ReaderOptions & { timeoutMs?: number } = {},
): Promise<ClientHelloResult> {
  return new Promise((resolve, reject) => {
    const reader = new ClientHelloReader(opts);
    let settled = false;

    const settle = (err: Error | null, result?: ClientHelloResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onEnd);
      socket.removeListener('error', onError);
      socket.pause();
      if (err) reject(err);
      else resolve(result!);
    };
    const onData = (chunk: Buffer): void => {
      let result: ClientHelloResult | null;
      try {
        result = reader.push(chunk);
      } catch (err) {
        settle(err as Error);
        return;
      }
      if (result) settle(null, result);
    };
    const onEnd = (): void => settle(new SniError('MALFORMED', 'connection ended before the ClientHello was complete'));
    const onError = (err: Error): void => settle(err);

    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const timer = setTimeout(
      () => settle(new SniError('TIMEOUT', `no complete ClientHello within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
    if (socket.destroyed || socket.readableEnded) onEnd();
    else socket.resume();
  });
}
