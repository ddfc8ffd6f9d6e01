/** RFC 8446 §5.1 ContentType alert(21); §6 AlertLevel fatal(2); RFC 6066 §3 unrecognized_name(112). */
const ALERT = 21;
const FATAL = 2;
const UNRECOGNIZED_NAME = 112;

/**
 * The 7-byte TLS alert record: fatal unrecognized_name(112) (RFC 8446 §6, RFC 6066 §3).
 * A fresh buffer per call: Node may still hold a buffer after `write()`.
 */
export function unrecognizedNameAlert(): Buffer {
  // RFC 8446 §5.1: legacy_record_version 0x0303 on every record but an initial ClientHello.
  return Buffer.from([ALERT, 0x03, 0x03, 0x00, 0x02, FATAL, UNRECOGNIZED_NAME]);
}
