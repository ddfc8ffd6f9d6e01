import type { Socket } from 'node:net';
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
  return new Promise((resolve, reject) => {
    const reader = new ProxyHeaderReader(opts);
    let settled = false;

    const settle = (err: Error | null, header?: ProxyHeaderInfo, rest?: Buffer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onEnd);
      socket.removeListener('error', onError);
      socket.pause();
      if (rest && rest.length > 0) socket.unshift(rest);
      if (err) reject(err);
      else resolve(header!);
    };
    const onData = (chunk: Buffer): void => {
      let result;
      try {
        result = reader.push(chunk);
      } catch (err) {
        settle(err as Error);
        return;
      }
      if (result) {
        const { rest, ...header } = result;
        settle(null, header, rest);
      }
    };
    const onEnd = (): void => settle(new ProxyProtocolError('BAD_HEADER', 'connection ended before the PROXY header was complete'));
    const onError = (err: Error): void => settle(err);

    const timeoutMs = opts.timeoutMs ?? 10_000;
    const timer = setTimeout(() => settle(new ProxyProtocolError('TIMEOUT', `no complete PROXY header within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
    if (socket.destroyed || socket.readableEnded) onEnd();
    else socket.resume();
  });
}
