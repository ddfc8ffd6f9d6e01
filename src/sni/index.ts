/**
 * The ClientHello reader: what the relay reads of a customer's connection, and nothing more
 * (the server name and ALPN list; see README "ClientHello reader" for ECH).
 */
export { SniError, type SniErrorCode } from './errors.js';
export type { ClientHelloInfo } from './client-hello.js';
export {
  ClientHelloReader,
  parseClientHello,
  DEFAULT_MAX_BYTES,
  type ReaderOptions,
  type ClientHelloResult,
} from './reader.js';
export { readClientHello, DEFAULT_TIMEOUT_MS } from './socket.js';
export { unrecognizedNameAlert } from './alert.js';
