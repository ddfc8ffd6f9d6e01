import { RelayError } from '../errors.js';

/**
 * Why a PROXY protocol header was refused:
 * - `BAD_HEADER`: anything that does not match the specification (doc/proxy-protocol.txt in
 *   HAProxy's tree): neither signature, a v1 line that is not exactly `PROXY TCP4|TCP6|UNKNOWN …`
 *   with valid addresses and ports, a lone CR or LF, a v2 version other than 2, an unassigned
 *   command, family or transport, an address block shorter than its family needs, a TLV that
 *   overruns the header or is listed twice, or a stream that ended before the header did;
 * - `TOO_LARGE`: a v1 line with no CRLF within 107 bytes, or a v2 header longer than `maxBytes`;
 * - `TIMEOUT`: the header did not arrive within the caller's deadline.
 */
export type ProxyProtocolErrorCode = 'BAD_HEADER' | 'TOO_LARGE' | 'TIMEOUT';

/** The only error the PROXY protocol reader throws on peer input. Messages never quote peer bytes. */
export class ProxyProtocolError extends RelayError<ProxyProtocolErrorCode> {}
