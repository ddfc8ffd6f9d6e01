import type { Socket } from 'node:net';
import { readPrefix } from '../net/index.js';
import { ProxyProtocolError } from './errors.js';
import { ProxyHeaderReader, type ProxyHeaderInfo, type ProxyHeaderReaderOptions } from './parse.js';

/**
 * Reads a PROXY protocol header from a socket (data events), with a deadline (`timeoutMs`,
 * default 10 s; §2 asks receivers for at least 3 s) that rejects with ProxyProtocolError('TIMEOUT').
 * On success the bytes after the header are put back (`unshift`) on the socket, which is left
 * paused with its listeners gone: the next reader (a ClientHello reader, a splice) sees the
 * stream exactly as if the header had never been there. On failure the listeners are gone and
 * the socket paused too. Never leaves a timer behind. A stream that ends first rejects with
 * BAD_HEADER; a socket error rejects with that error. The caller keeps its own 'error' listener.
 */
export function readProxyHeader(socket: Socket, opts: ProxyHeaderReaderOptions & { timeoutMs?: number } = {}): Promise<ProxyHeaderInfo> {
  const reader = new ProxyHeaderReader(opts);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return readPrefix(socket, (chunk) => {
    const result = reader.push(chunk);
    if (!result) return null;
    const { rest, ...header } = result;
    return { value: header, rest };
  }, {
    timeoutMs,
    timeout: () => new ProxyProtocolError('TIMEOUT', `no complete PROXY header within ${timeoutMs} ms`),
    ended: () => new ProxyProtocolError('BAD_HEADER', 'connection ended before the PROXY header was complete'),
  });
}
