import type { Socket } from 'node:net';
import { readPrefix } from '../net/index.js';
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
  const reader = new ClientHelloReader(opts);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return readPrefix(socket, (chunk) => {
    const result = reader.push(chunk);
    return result ? { value: result } : null; // `bytes` holds all that was read: nothing to put back
  }, {
    timeoutMs,
    timeout: () => new SniError('TIMEOUT', `no complete ClientHello within ${timeoutMs} ms`),
    ended: () => new SniError('MALFORMED', 'connection ended before the ClientHello was complete'),
  });
}
