import { RelayError } from '../errors.js';

/**
 * Why a connection's first bytes could not be routed:
 * - `NOT_TLS`: the first byte is not a TLS handshake record (plain HTTP, SSLv2-compatible hello);
 * - `NO_SNI`: a well-formed ClientHello without a host_name in server_name;
 * - `MALFORMED`: any length past its container, a duplicate extension, a bad or IP-literal name,
 *   a non-handshake record mid-hello, or a stream that ended before the hello did;
 * - `TOO_LARGE`: the hello cannot fit in `maxBytes`;
 * - `TIMEOUT`: the hello did not arrive within the caller's deadline.
 */
export type SniErrorCode = 'NOT_TLS' | 'NO_SNI' | 'MALFORMED' | 'TOO_LARGE' | 'TIMEOUT';

/** The only error the ClientHello reader throws on peer input. Messages never quote peer bytes. */
export class SniError extends RelayError<SniErrorCode> {}
