/**
 * The PROXY protocol (HAProxy's doc/proxy-protocol.txt, v1 text and v2 binary): the header a
 * proxy writes before a connection's bytes to tell the service who the client is.
 */
export { ProxyProtocolError } from './errors.js';
export { PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY } from './constants.js';
export { encodeProxyHeader, type ProxyHeaderFields } from './encode.js';
export { ProxyHeaderReader, DEFAULT_MAX_HEADER_BYTES, type ProxyHeader } from './parse.js';
export { readProxyHeader } from './socket.js';
