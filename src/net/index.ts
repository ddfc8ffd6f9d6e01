/**
 * The ground floor every room stands on: addresses and port ranges, the one host-name rule, listen,
 * token buckets (connection rates, byte rates), address blocks (CIDR), reading a connection's first
 * bytes (readPrefix), and sockets that read into a buffer of their own.
 */
export { formatHostPort, parseHostPort, parsePortRange, type HostPort, type PortRange } from './address.js';
export { canonicalHostName, hostNameProblem, hostPatternProblem, isHostPattern, isWildcard, MAX_HOST_NAME } from './host-name.js';
export { listen } from './listen.js';
export { freePort } from './free-port.js';
export { ByteThrottle, RateTable, TokenBucket } from './token-bucket.js';
export { createReusedBufferSocket, readsIntoReusedBuffer, setBytesHandler } from './reused-read-buffer.js';
export { CidrList, addressKey, formatCidr, parseCidr } from './cidr.js';
export { readPrefix } from './read-prefix.js';
