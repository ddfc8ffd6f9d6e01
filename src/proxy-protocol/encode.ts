import { formatIp, ipBytes, mappedIpv4, type ProxyEndpoint } from './address.js';
import { PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY, V2_SIGNATURE } from './constants.js';

/** What a header says about one connection; every field optional. */
export interface ProxyHeaderFields {
  /** The connection's client (spec: source address and port). */
  source?: ProxyEndpoint;
  /** Where the client connected to (spec: destination address and port). */
  destination?: ProxyEndpoint;
  /** v2 only: PP2_TYPE_AUTHORITY, the host name the client asked for (TLS: its SNI). */
  authority?: string;
  /** v2 only: PP2_TYPE_ALPN, one upper-layer protocol name (e.g. `h2`). */
  alpn?: string;
}

/** Both ends in one family, ready to write; null when the header cannot name them. */
interface AddressPair { family: 4 | 6; src: Buffer; dst: Buffer; srcPort: number; dstPort: number }

/**
 * Writes a PROXY protocol header (HAProxy's doc/proxy-protocol.txt) for one connection.
 *
 * Families: two IPv4 addresses, either of them possibly written IPv4-mapped (`::ffff:a.b.c.d`,
 * as a dual-stack socket reports an IPv4 peer), give TCP4 with plain IPv4 addresses; an IPv6
 * address with an IPv4 one gives TCP6 with the IPv4 one mapped; two IPv6 addresses give TCP6.
 * When either end is missing, or is not an IP address and port, nothing can be said about the
 * connection: v1 writes `PROXY UNKNOWN\r\n` (§2.1), v2 the LOCAL command with AF_UNSPEC and no
 * addresses (§2.2), and the receiver uses the connection's own endpoints.
 *
 * v2 carries `alpn` (PP2_TYPE_ALPN, §2.2.1) and `authority` (PP2_TYPE_AUTHORITY, §2.2.2) as TLVs
 * when they are non-empty, also with LOCAL; v1 has no room for them.
 */
export function encodeProxyHeader(version: 'v1' | 'v2', h: ProxyHeaderFields): Buffer {
  const pair = addressPair(h.source, h.destination);
  return version === 'v1' ? encodeV1(pair) : encodeV2(pair, h);
}

function endpoint(e: ProxyEndpoint | undefined): { ip: Buffer; port: number } | null {
  if (!e || !Number.isInteger(e.port) || e.port < 0 || e.port > 0xffff) return null;
  const ip = ipBytes(e.address);
  return ip && { ip, port: e.port };
}

function addressPair(source: ProxyEndpoint | undefined, destination: ProxyEndpoint | undefined): AddressPair | null {
  const s = endpoint(source);
  const d = endpoint(destination);
  if (!s || !d) return null;
  const s4 = s.ip.length === 4 ? s.ip : mappedIpv4(s.ip);
  const d4 = d.ip.length === 4 ? d.ip : mappedIpv4(d.ip);
  if (s4 && d4) return { family: 4, src: s4, dst: d4, srcPort: s.port, dstPort: d.port };
  return { family: 6, src: asIpv6(s.ip), dst: asIpv6(d.ip), srcPort: s.port, dstPort: d.port };
}

/** A 16-byte address: IPv6 as is, IPv4 mapped (RFC 4291 §2.5.5.2). */
function asIpv6(ip: Buffer): Buffer {
  if (ip.length === 16) return ip;
  const out = Buffer.alloc(16);
  out[10] = 0xff;
  out[11] = 0xff;
  ip.copy(out, 12);
  return out;
}

/** §2.1: `PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n`, or `PROXY UNKNOWN\r\n`. */
function encodeV1(p: AddressPair | null): Buffer {
  if (!p) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  return Buffer.from(`PROXY TCP${p.family} ${formatIp(p.src)} ${formatIp(p.dst)} ${p.srcPort} ${p.dstPort}\r\n`, 'latin1');
}

const CMD_LOCAL = 0x20; // version 2 (high nibble), command LOCAL
const CMD_PROXY = 0x21; // version 2, command PROXY
const FAM_UNSPEC = 0x00; // AF_UNSPEC, UNSPEC
const FAM_TCP4 = 0x11; // AF_INET, STREAM
const FAM_TCP6 = 0x21; // AF_INET6, STREAM

/** §2.2: signature, ver_cmd, fam, u16 len, then addresses, ports and TLVs (type, u16 length, value). */
function encodeV2(p: AddressPair | null, h: ProxyHeaderFields): Buffer {
  const tlvs: Array<[number, Buffer]> = [];
  // ALPN names are bytes (RFC 7301 §3.1): latin1 keeps each one as the ClientHello carried it.
  if (h.alpn) tlvs.push([PP2_TYPE_ALPN, Buffer.from(h.alpn, 'latin1')]);
  if (h.authority) tlvs.push([PP2_TYPE_AUTHORITY, Buffer.from(h.authority, 'utf8')]);
  const addrLen = p === null ? 0 : p.family === 4 ? 12 : 36;
  const len = addrLen + tlvs.reduce((n, [, v]) => n + 3 + v.length, 0);
  if (len > 0xffff) throw new RangeError('PROXY v2 header: TLVs longer than 65535 bytes');
  const out = Buffer.allocUnsafe(16 + len);
  let o = V2_SIGNATURE.copy(out, 0);
  out[o++] = p === null ? CMD_LOCAL : CMD_PROXY;
  out[o++] = p === null ? FAM_UNSPEC : p.family === 4 ? FAM_TCP4 : FAM_TCP6;
  o = out.writeUInt16BE(len, o);
  if (p !== null) {
    o += p.src.copy(out, o);
    o += p.dst.copy(out, o);
    o = out.writeUInt16BE(p.srcPort, o);
    o = out.writeUInt16BE(p.dstPort, o);
  }
  for (const [type, value] of tlvs) {
    out[o++] = type;
    o = out.writeUInt16BE(value.length, o);
    o += value.copy(out, o);
  }
  return out;
}
