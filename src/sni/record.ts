/** RFC 8446 §5.1 TLSPlaintext: type(1) legacy_record_version(2) length(2), then the fragment. */
export const RECORD_HEADER = 5;
/** RFC 8446 §5.1 ContentType handshake. */
export const CONTENT_HANDSHAKE = 22;
/** RFC 8446 §5.1: "The length MUST NOT exceed 2^14 bytes." */
export const MAX_FRAGMENT = 1 << 14;
/** RFC 8446 §4: msg_type(1) length(3). */
export const HANDSHAKE_HEADER = 4;
