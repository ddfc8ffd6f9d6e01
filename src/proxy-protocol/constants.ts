/** The v2 header's first 12 bytes (§2.2); the 5th is a NUL, so it is never a C string. */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** A v1 header starts `PROXY ` (§2.1). */
export const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** The longest v1 line a receiver must take, CRLF included (§2.1: `PROXY UNKNOWN` with two full IPv6 addresses). */
export const V1_MAX_LINE = 107;

// §2.2 TLV types.
/** The upper-layer protocol (ALPN, RFC 7301) of the connection. */
export const PP2_TYPE_ALPN = 0x01;
/** The host name the client asked for (TLS: the server_name extension, RFC 6066 §3), UTF-8. */
export const PP2_TYPE_AUTHORITY = 0x02;
/** Padding: skipped by the reader, any number of times. */
export const PP2_TYPE_NOOP = 0x04;
