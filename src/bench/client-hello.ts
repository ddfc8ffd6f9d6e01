import { randomBytes } from 'node:crypto';

/**
 * A TLS ClientHello builder (RFC 8446 §4.1.2): the well-formed hello `relay bench` starts its SNI
 * connections with, and, from `HelloSpec`, the hellos no real client sends that the SNI tests
 * feed the reader.
 */

const u8 = (n: number) => Buffer.from([n]);
const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const u24 = (n: number) => Buffer.from([n >> 16, (n >> 8) & 0xff, n & 0xff]);
const vec8 = (b: Buffer) => Buffer.concat([u8(b.length), b]);
const vec16 = (b: Buffer) => Buffer.concat([u16(b.length), b]);

/** One extension: type, then its data with a 2-byte length. */
export function ext(type: number, data: Buffer): Buffer {
  return Buffer.concat([u16(type), vec16(data)]);
}

/** server_name extension data (RFC 6066 §3) from (name_type, name) entries. */
export function serverNameData(entries: Array<[number, Buffer | string]>): Buffer {
  return vec16(Buffer.concat(entries.map(([t, n]) => Buffer.concat([u8(t), vec16(Buffer.from(n))]))));
}

/** ALPN extension data (RFC 7301 §3.1). */
export function alpnData(names: string[]): Buffer {
  return vec16(Buffer.concat(names.map((n) => vec8(Buffer.from(n, 'latin1')))));
}

/** Wraps handshake bytes in handshake records (type 22, version 3.1) of at most `size` bytes. */
export function wrapRecords(hs: Buffer, size = 16384): Buffer {
  const parts: Buffer[] = [];
  for (let p = 0; p < hs.length; p += size) {
    const frag = hs.subarray(p, Math.min(p + size, hs.length));
    parts.push(Buffer.from([22, 3, 1, frag.length >> 8, frag.length & 0xff]), frag);
  }
  return Buffer.concat(parts);
}

export interface HelloSpec {
  serverName?: string | null;
  alpn?: string[];
  /** Extensions after server_name/ALPN, verbatim (type, data). */
  extensions?: Array<[number, Buffer]>;
  /** Replaces the whole extension list, bytes verbatim (no length prefix). */
  rawExtensions?: Buffer;
  /** Omit the extensions block entirely (pre-TLS-1.3 clients may). */
  noExtensions?: boolean;
  sessionId?: Buffer;
  cipherSuites?: Buffer;
  compression?: Buffer;
  /** Bytes of an X25519MLKEM768-like key share (1216 for ML-KEM-768 + X25519). */
  pqKeyShare?: number;
}

/** A ClientHello handshake message (4-byte header included), RFC 8446 §4.1.2. */
export function buildHandshake(spec: HelloSpec = {}): Buffer {
  const exts: Buffer[] = [];
  const name = spec.serverName === undefined ? 'built.example.com' : spec.serverName;
  if (name !== null) exts.push(ext(0, serverNameData([[0, name]])));
  if (spec.alpn) exts.push(ext(16, alpnData(spec.alpn)));
  exts.push(ext(43, vec8(Buffer.from([0x03, 0x04, 0x03, 0x03])))); // supported_versions
  if (spec.pqKeyShare) {
    exts.push(ext(10, vec16(Buffer.from([0x11, 0xec, 0x00, 0x1d])))); // supported_groups
    const shares = Buffer.concat([
      u16(0x11ec), vec16(randomBytes(spec.pqKeyShare)), // X25519MLKEM768
      u16(0x001d), vec16(randomBytes(32)), // x25519
    ]);
    exts.push(ext(51, vec16(shares))); // key_share
  }
  for (const [t, d] of spec.extensions ?? []) exts.push(ext(t, d));
  const body = Buffer.concat([
    u16(0x0303),
    randomBytes(32),
    vec8(spec.sessionId ?? randomBytes(32)),
    vec16(spec.cipherSuites ?? Buffer.from([0x13, 0x01, 0x13, 0x02, 0x13, 0x03])),
    vec8(spec.compression ?? Buffer.from([0])),
    spec.noExtensions ? Buffer.alloc(0) : vec16(spec.rawExtensions ?? Buffer.concat(exts)),
  ]);
  return Buffer.concat([u8(1), u24(body.length), body]);
}

/** A ClientHello in one or more records. */
export function buildHello(spec: HelloSpec = {}, recordSize = 16384): Buffer {
  return wrapRecords(buildHandshake(spec), recordSize);
}

/**
 * A well-formed TLS 1.3 ClientHello carrying `server_name` (RFC 6066 §3), so that a bench
 * connection through the SNI route starts as a real client's would: TLS_AES_128_GCM_SHA256 only,
 * TLS 1.3 only, an x25519 key share, in one record. The target is a sink or an echo, not a TLS
 * server: nothing answers the hello, the bytes after it are the load.
 */
export function buildClientHello(serverName: string): Buffer {
  return buildHello({
    serverName: null,
    cipherSuites: u16(0x1301),
    rawExtensions: Buffer.concat([
      ext(0x0000, serverNameData([[0, Buffer.from(serverName, 'ascii')]])),
      ext(0x002b, vec8(u16(0x0304))), // supported_versions: TLS 1.3
      ext(0x000a, vec16(u16(0x001d))), // supported_groups: x25519
      ext(0x0033, vec16(Buffer.concat([u16(0x001d), vec16(randomBytes(32))]))), // key_share
    ]),
  });
}
