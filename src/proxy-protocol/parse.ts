import net from 'node:net';
import { formatIp, ipBytes, type ProxyEndpoint } from './address.js';
import { PP2_TYPE_NOOP, V1_MAX_LINE, V1_PREFIX, V2_SIGNATURE } from './constants.js';
import { ProxyProtocolError } from './errors.js';

/** What one PROXY protocol header says. */
export interface ProxyHeaderInfo {
  version: 1 | 2;
  /**
   * `proxy`: the header speaks for another connection; `local` (v2 only): the sender made this
   * connection itself (a health check), so the connection's own endpoints are the real ones.
   */
  command: 'proxy' | 'local';
  /**
   * The client and where it connected to: present together, for TCP4/TCP6 (v1) and for PROXY
   * over AF_INET/AF_INET6 with STREAM (v2). Absent for v1 UNKNOWN, for LOCAL, and for what this
   * relay has no use for (AF_UNSPEC, AF_UNIX, DGRAM: §2.2 lets a receiver treat those as
   * UNSPEC); then the receiver uses the connection's own endpoints. An IPv4-mapped IPv6 address
   * is written `::ffff:a.b.c.d`, as Node's sockets write it.
   */
  source?: ProxyEndpoint;
  destination?: ProxyEndpoint;
  /**
   * v2 TLVs by type (§2.2), values copied; PP2_TYPE_NOOP left out. Empty for v1. A CRC32C TLV
   * is kept but not checked.
   */
  tlvs: Map<number, Buffer>;
}

/** The header, and whatever followed it in the bytes pushed: the start of the proxied stream. */
export interface ProxyHeader extends ProxyHeaderInfo { rest: Buffer }

export interface ProxyHeaderReaderOptions {
  /** Most bytes a header may take (a v1 line never more than 107). Default 16 + 2048. */
  maxBytes?: number;
}

export const DEFAULT_MAX_HEADER_BYTES = 16 + 2048;

// States, as integers (ws receiver style).
const SIGNATURE = 0; // matching `PROXY ` or the v2 signature
const V1_LINE = 1; // after `PROXY `, up to CRLF
const V2_FIXED = 2; // bytes 12..15: ver_cmd, fam, len
const V2_BODY = 3; // the address block and TLVs, in bulk
const DONE = 4;

const CR = 0x0d;
const LF = 0x0a;

// §2.2 byte 14, high nibble: the address family (0 AF_UNSPEC, then these); its address block
// length (with ports, for the two families that have them) is what a header of that family must
// at least carry.
const AF_INET = 1;
const AF_INET6 = 2;
const AF_UNIX = 3;
const ADDRESS_BLOCK = [0, 12, 36, 216];
// Low nibble: the transport.
const TRANSPORT_STREAM = 1;
const TRANSPORT_MAX = 2; // DGRAM

/**
 * Reads one PROXY protocol header, v1 or v2, from bytes arriving in any split. Each byte of the
 * signature and of the v2 fixed part is checked as it arrives, so a connection that is not
 * speaking the protocol fails on its first wrong byte and an oversized v2 length fails before its
 * body comes; a v1 line fails on a lone CR or LF or a byte that is not printable US-ASCII.
 * Chunks are kept by reference and joined once, when the header is complete.
 */
export class ProxyHeaderReader {
  private readonly maxBytes: number;
  private chunks: Buffer[] = [];
  /** Bytes pushed so far (the absolute offset of the next chunk). */
  private total = 0;
  private state = SIGNATURE;
  private version: 1 | 2 = 1;
  private failure: ProxyProtocolError | null = null;
  private sawCR = false;
  private readonly fixed = [0, 0, 0, 0]; // v2 bytes 12..15
  /** Absolute offset just past the header, once known. */
  private end = -1;

  constructor(opts: ProxyHeaderReaderOptions = {}) {
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_HEADER_BYTES;
  }

  /**
   * Feed the next chunk. Returns null while more bytes are needed, the header once it is in;
   * throws ProxyProtocolError. After a result or an error, further pushes throw.
   */
  push(chunk: Buffer): ProxyHeader | null {
    if (this.failure) throw this.failure;
    if (this.state === DONE) throw new Error('ProxyHeaderReader: push after the header was read');
    if (chunk.length === 0) return null;
    const base = this.total;
    this.chunks.push(chunk);
    this.total += chunk.length;
    try {
      return this.consume(chunk, base) ? this.finish() : null;
    } catch (err) {
      this.chunks = [];
      this.state = DONE;
      // Only ProxyProtocolError leaves here; anything else would be a bug in this file, wrapped
      // rather than let a peer's bytes surface an unexpected exception type.
      this.failure = err instanceof ProxyProtocolError ? err : new ProxyProtocolError('BAD_HEADER', 'unparseable PROXY header', { cause: err });
      throw this.failure;
    }
  }

  /** Runs the state machine over one chunk; true once the header's last byte is in. */
  private consume(chunk: Buffer, base: number): boolean {
    for (let i = 0; i < chunk.length;) {
      const pos = base + i;
      if (this.state === V2_BODY) {
        i += Math.min(chunk.length - i, this.end - pos);
        if (base + i === this.end) return true;
        continue;
      }
      const b = chunk[i++];
      if (this.state === SIGNATURE) {
        // §2.2 "identifying the protocol version": the first byte tells which one it can be.
        if (pos === 0) this.version = b === V2_SIGNATURE[0] ? 2 : 1;
        const sig = this.version === 2 ? V2_SIGNATURE : V1_PREFIX;
        if (b !== sig[pos]) throw new ProxyProtocolError('BAD_HEADER', 'not a PROXY protocol header');
        if (pos === sig.length - 1) this.state = this.version === 2 ? V2_FIXED : V1_LINE;
      } else if (this.state === V1_LINE) {
        if (this.v1Byte(b, pos)) return true;
      } else if (this.v2Fixed(b, pos)) {
        return true;
      }
    }
    return false;
  }

  /** One byte of the v1 line after `PROXY ` (§2.1); true at its LF. */
  private v1Byte(b: number, pos: number): boolean {
    if (this.sawCR) {
      // §2.1: a CR must be followed by LF, and nothing else ends the line.
      if (b !== LF) throw new ProxyProtocolError('BAD_HEADER', 'PROXY v1: CR not followed by LF');
      this.end = pos + 1;
      return true;
    }
    if (b === CR) this.sawCR = true;
    else if (b < 0x20 || b > 0x7e) throw new ProxyProtocolError('BAD_HEADER', 'PROXY v1: the line is not printable US-ASCII ending in CRLF');
    // The whole line, CRLF included, fits in `limit` bytes: its CR at offset limit - 2 at the latest.
    const limit = Math.min(V1_MAX_LINE, this.maxBytes);
    if (pos > (b === CR ? limit - 2 : limit - 3)) throw new ProxyProtocolError('TOO_LARGE', `PROXY v1: no CRLF within ${limit} bytes`);
    return false;
  }

  /** Bytes 12..15 of a v2 header (§2.2), each checked as it arrives; true when the header ends here. */
  private v2Fixed(b: number, pos: number): boolean {
    this.fixed[pos - 12] = b;
    if (pos === 12) {
      if (b >> 4 !== 2) throw new ProxyProtocolError('BAD_HEADER', 'PROXY v2: version is not 2');
      if ((b & 0xf) > 1) throw new ProxyProtocolError('BAD_HEADER', 'PROXY v2: unassigned command');
    } else if (pos === 13) {
      if (b >> 4 > AF_UNIX || (b & 0xf) > TRANSPORT_MAX) throw new ProxyProtocolError('BAD_HEADER', 'PROXY v2: unassigned address family or transport');
    } else if (pos === 15) {
      const len = (this.fixed[2] << 8) | b;
      if (16 + len > this.maxBytes) throw new ProxyProtocolError('TOO_LARGE', `PROXY v2: header exceeds ${this.maxBytes} bytes`);
      if (len < this.addressBlockLength()) throw new ProxyProtocolError('BAD_HEADER', 'PROXY v2: address block shorter than its family needs');
      this.end = 16 + len;
      if (len === 0) return true;
      this.state = V2_BODY;
    }
    return false;
  }

  /** The address block the v2 header's family calls for (§2.2), whatever the transport. */
  private addressBlockLength(): number {
    return ADDRESS_BLOCK[this.fixed[1] >> 4];
  }

  private finish(): ProxyHeader {
    this.state = DONE;
    const chunks = this.chunks;
    this.chunks = [];
    const bytes = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.total);
    const header = bytes.subarray(0, this.end);
    const rest = bytes.subarray(this.end);
    const info = this.version === 1 ? parseV1(header.toString('latin1', V1_PREFIX.length, header.length - 2)) : this.parseV2(header);
    return { ...info, rest };
  }

  private parseV2(h: Buffer): ProxyHeaderInfo {
    const command = (h[12] & 0xf) === 1 ? 'proxy' : 'local';
    const family = h[13] >> 4;
    const addrLen = this.addressBlockLength();
    const info: ProxyHeaderInfo = { version: 2, command, tlvs: parseTlvs(h, 16 + addrLen) };
    // §2.2: LOCAL discards the address block; so do the families and transports we do not serve.
    if (command === 'proxy' && (h[13] & 0xf) === TRANSPORT_STREAM && (family === AF_INET || family === AF_INET6)) {
      const n = family === AF_INET ? 4 : 16;
      info.source = { address: formatIp(h.subarray(16, 16 + n)), port: h.readUInt16BE(16 + 2 * n) };
      info.destination = { address: formatIp(h.subarray(16 + n, 16 + 2 * n)), port: h.readUInt16BE(18 + 2 * n) };
    }
    return info;
  }
}

/** §2.2 TLVs from `off` to the header's end: each must fit; a type listed twice is refused (which one would count?). */
function parseTlvs(h: Buffer, off: number): Map<number, Buffer> {
  const tlvs = new Map<number, Buffer>();
  while (off < h.length) {
    if (off + 3 > h.length) throw new ProxyProtocolError('BAD_HEADER', 'PROXY v2: truncated TLV');
    const type = h[off];
    const len = h.readUInt16BE(off + 1);
    off += 3;
    if (off + len > h.length) throw new ProxyProtocolError('BAD_HEADER', 'PROXY v2: TLV longer than the header');
    if (type !== PP2_TYPE_NOOP) {
      if (tlvs.has(type)) throw new ProxyProtocolError('BAD_HEADER', 'PROXY v2: a TLV type listed twice');
      tlvs.set(type, Buffer.from(h.subarray(off, off + len)));
    }
    off += len;
  }
  return tlvs;
}

const PORT = /^(?:0|[1-9][0-9]{0,4})$/;

/** The v1 line between `PROXY ` and CRLF (§2.1). */
function parseV1(line: string): ProxyHeaderInfo {
  const info: ProxyHeaderInfo = { version: 1, command: 'proxy', tlvs: new Map() };
  // UNKNOWN: the receiver ignores the rest of the line.
  if (line === 'UNKNOWN' || line.startsWith('UNKNOWN ')) return info;
  const f = line.split(' ');
  if (f.length !== 5 || (f[0] !== 'TCP4' && f[0] !== 'TCP6')) throw new ProxyProtocolError('BAD_HEADER', 'PROXY v1: expected TCP4, TCP6 or UNKNOWN and four fields');
  const v4 = f[0] === 'TCP4';
  const [src, dst] = [f[1], f[2]].map((a) => {
    // net.isIPv4 refuses leading zeros (§2.1: no octal confusion); an IPv6 zone has no place here.
    const ok = v4 ? net.isIPv4(a) : net.isIPv6(a) && !a.includes('%');
    if (!ok) throw new ProxyProtocolError('BAD_HEADER', `PROXY v1: an address is not ${v4 ? 'IPv4' : 'IPv6'}`);
    return formatIp(ipBytes(a)!);
  });
  const [sport, dport] = [f[3], f[4]].map((p) => {
    if (!PORT.test(p) || Number(p) > 0xffff) throw new ProxyProtocolError('BAD_HEADER', 'PROXY v1: a port is not 0..65535 without leading zeros');
    return Number(p);
  });
  info.source = { address: src, port: sport };
  info.destination = { address: dst, port: dport };
  return info;
}
