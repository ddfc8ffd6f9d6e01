import { SniError } from './errors.js';
import { EXT_ALPN, EXT_SERVER_NAME, parseAlpn, parseServerName } from './extensions.js';

/** What the relay learns from a ClientHello, and nothing more. */
export interface ClientHelloInfo {
  /** server_name host_name, lower-cased, trailing dot stripped; null only with `allowMissingSni`. */
  serverName: string | null;
  /** application_layer_protocol_negotiation protocol names in the client's order; [] if absent. */
  alpn: string[];
}

/** RFC 8446 §4 HandshakeType client_hello. */
export const HANDSHAKE_CLIENT_HELLO = 1;
/**
 * Smallest ClientHello body (RFC 8446 §4.1.2): legacy_version 2, random 32, legacy_session_id 1+0,
 * cipher_suites 2+2, legacy_compression_methods 1+1; extensions may be absent before TLS 1.3
 * (RFC 5246 §7.4.1.2).
 */
export const MIN_CLIENT_HELLO_BODY = 41;

function malformed(what: string): never {
  throw new SniError('MALFORMED', what);
}

/**
 * Parses one complete handshake message (4-byte header included) that must be a ClientHello,
 * with a bounds check before every read. The one parser behind both the incremental reader and
 * `parseClientHello`.
 *
 * ECH (draft-ietf-tls-esni): with Encrypted Client Hello the server_name read here is the outer
 * ClientHello's, the client-facing public name; the real name is encrypted for the service's
 * key, which only the service holds. The relay routes on the outer name, by design.
 */
export function parseHandshake(hs: Buffer, allowMissingSni: boolean): ClientHelloInfo {
  if (hs.length < 4 || hs[0] !== HANDSHAKE_CLIENT_HELLO) malformed('not a ClientHello');
  const end = 4 + ((hs[1] << 16) | (hs[2] << 8) | hs[3]);
  if (end !== hs.length) malformed('handshake length does not match the message');
  if (end - 4 < MIN_CLIENT_HELLO_BODY) malformed('ClientHello too short');

  // RFC 8446 §4.1.2 ClientHello
  let p = 4;
  if (hs[p] !== 3) malformed('legacy_version is not TLS');
  p += 2 + 32; // legacy_version, random
  const sessionIdLen = hs[p++];
  if (sessionIdLen > 32) malformed('legacy_session_id longer than 32');
  p += sessionIdLen;
  if (end - p < 2) malformed('cipher_suites past the message');
  const suitesLen = hs.readUInt16BE(p);
  p += 2;
  if (suitesLen < 2 || suitesLen % 2 !== 0) malformed('cipher_suites length must be even and at least 2');
  if (suitesLen > end - p) malformed('cipher_suites past the message');
  p += suitesLen;
  if (end - p < 1) malformed('legacy_compression_methods past the message');
  const compLen = hs[p++];
  if (compLen < 1) malformed('legacy_compression_methods empty');
  if (compLen > end - p) malformed('legacy_compression_methods past the message');
  p += compLen;

  let serverName: string | null = null;
  let alpn: string[] = [];
  if (p < end) {
    if (end - p < 2) malformed('extensions length truncated');
    const extLen = hs.readUInt16BE(p);
    p += 2;
    if (p + extLen !== end) malformed('extensions length does not match the message');
    // RFC 8446 §4.2: "There MUST NOT be more than one extension of the same type"; at most
    // (2^16-1)/4 of them, so this set is bounded by the message, itself bounded by maxBytes.
    const seen = new Set<number>();
    while (p < end) {
      if (end - p < 4) malformed('extension header truncated');
      const type = hs.readUInt16BE(p);
      const len = hs.readUInt16BE(p + 2);
      p += 4;
      if (len > end - p) malformed('extension past the extensions block');
      if (seen.has(type)) malformed('duplicate extension');
      seen.add(type);
      if (type === EXT_SERVER_NAME) serverName = parseServerName(hs, p, p + len);
      else if (type === EXT_ALPN) alpn = parseAlpn(hs, p, p + len);
      p += len;
    }
  }
  if (serverName === null && !allowMissingSni) throw new SniError('NO_SNI', 'ClientHello has no server_name');
  return { serverName, alpn };
}
