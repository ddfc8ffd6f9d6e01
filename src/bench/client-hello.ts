import { randomBytes } from 'node:crypto';

/**
 * A well-formed TLS 1.3 ClientHello (RFC 8446 §4.1.2) carrying `server_name` (RFC 6066 §3), so
 * that a bench connection through the SNI route starts as a real client's would. The target is a
 * sink or an echo, not a TLS server: nothing answers the hello, the bytes after it are the load.
 */
export function buildClientHello(serverName: string): Buffer {
  const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
  const name = Buffer.from(serverName, 'ascii');
  const sni = Buffer.concat([u16(name.length + 3), Buffer.from([0]), u16(name.length), name]);
  const ext = (type: number, body: Buffer) => Buffer.concat([u16(type), u16(body.length), body]);
  const extensions = Buffer.concat([
    ext(0x0000, sni),
    ext(0x002b, Buffer.from([2, 0x03, 0x04])), // supported_versions: TLS 1.3
    ext(0x000a, Buffer.concat([u16(2), u16(0x001d)])), // supported_groups: x25519
    ext(0x0033, Buffer.concat([u16(36), u16(0x001d), u16(32), randomBytes(32)])), // key_share
  ]);
  const body = Buffer.concat([
    Buffer.from([0x03, 0x03]), randomBytes(32), Buffer.from([32]), randomBytes(32),
    u16(2), u16(0x1301), Buffer.from([1, 0]), u16(extensions.length), extensions,
  ]);
  const handshake = Buffer.concat([Buffer.from([1, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]), body]);
  return Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), u16(handshake.length), handshake]);
}
