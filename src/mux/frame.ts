// The multiplex wire format: docs/protocol.md "Multiplex". Every frame is an 8-byte header
// (type u8, flags u8, length u16, stream id u32, big-endian) and `length` payload bytes. Frames
// never span channel messages; one message carries as many whole frames as fit.

export const HEADER_SIZE = 8;

/** Frame types, indexing the receiver's dispatch table (receiver.ts). */
export const FrameType = {
  DATA: 0,
  OPEN: 1,
  WINDOW_UPDATE: 2,
  FIN: 3,
  RST: 4,
  PING: 5,
  PONG: 6,
  GO_AWAY: 7,
  CLOSE: 8,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];
export const FRAME_TYPE_COUNT = 9;
export const FRAME_NAMES = ['DATA', 'OPEN', 'WINDOW_UPDATE', 'FIN', 'RST', 'PING', 'PONG', 'GO_AWAY', 'CLOSE'] as const;

/** Credit every stream, and the session, starts with in each direction (docs/protocol.md "Flow control"). */
export const INITIAL_WINDOW = 256 * 1024;
/** Windows and increments are bounded so that counters stay exact small integers. */
export const MAX_WINDOW = 0x7fffffff;
export const PING_PAYLOAD_SIZE = 8;

/** RST reason codes (docs/protocol.md "Frame types", RST codes). Applications may use others. */
export const ResetCode = {
  /** Closed by its user with no error (`destroy()`). */
  CANCEL: 0,
  /** Local error (e.g. the spliced socket failed). */
  INTERNAL: 1,
  /** Open refused: the receiver is at maxStreams. */
  REFUSED_TOO_MANY: 2,
  /** Open refused: the receiver sent GO_AWAY. */
  REFUSED_GOING_AWAY: 3,
  /** The agent could not reach its target. */
  CONNECT_FAILED: 4,
  /** Open refused: metadata invalid or too large. */
  BAD_METADATA: 5,
} as const;

/** GO_AWAY codes. */
export const GoAwayCode = { NORMAL: 0, PROTOCOL_ERROR: 1, INTERNAL: 2 } as const;

/** What an open frame says about the customer connection it carries. */
export interface OpenMetadata {
  tunnelId: string;
  clientAddress?: string;
  clientPort?: number;
  serverName?: string;
  /** Layout 2: the address and port the client connected to (the relay's public side). */
  serverAddress?: string;
  serverPort?: number;
  /** Layout 2: the protocols the client offered in its ClientHello's ALPN extension, in order. */
  alpn?: string[];
}

/**
 * ALPN bytes one OPEN may carry (RFC 7301 §3.1 allows 2^16 - 1; browsers send under 30). With the
 * longest tunnel id and names and IPv6 addresses the rest of layout 2 takes 606 bytes, so 256
 * keeps every OPEN under the mux's default maxOpenMetadata (1024): a client's list can never
 * keep its own stream from opening.
 */
const MAX_META_ALPN = 256;

function writeHeader(buf: Buffer, off: number, type: number, length: number, streamId: number): number {
  buf[off] = type;
  buf[off + 1] = 0;
  buf[off + 2] = length >>> 8;
  buf[off + 3] = length & 0xff;
  buf.writeUInt32BE(streamId, off + 4);
  return off + HEADER_SIZE;
}

/**
 * Open metadata (docs/protocol.md "OPEN metadata"): u8 len + tunnel id, u8 len + client address
 * (0 = absent), u16 client port (0 = absent), u8 len + server name (0 = absent); strings UTF-8.
 * Layout 2 appends, when any of its fields is given: u8 len + server address, u16 server port,
 * u16 len + ALPN protocol name list (RFC 7301 §3.1: u8 len + name, repeated).
 */
export function encodeOpenMetadata(meta: OpenMetadata): Buffer {
  const tunnel = Buffer.from(meta.tunnelId, 'utf8');
  const addr = Buffer.from(meta.clientAddress ?? '', 'utf8');
  const sni = Buffer.from(meta.serverName ?? '', 'utf8');
  const port = meta.clientPort ?? 0;
  if (tunnel.length < 1 || tunnel.length > 255) throw new RangeError('tunnelId must be 1..255 bytes');
  if (addr.length > 255 || sni.length > 255) throw new RangeError('clientAddress and serverName must be at most 255 bytes');
  checkPort(port, 'clientPort');
  const v2 = meta.serverAddress !== undefined || meta.serverPort !== undefined || meta.alpn !== undefined;
  const srv = Buffer.from(meta.serverAddress ?? '', 'utf8');
  const srvPort = meta.serverPort ?? 0;
  const alpn = encodeAlpn(meta.alpn ?? []);
  if (srv.length > 255) throw new RangeError('serverAddress must be at most 255 bytes');
  checkPort(srvPort, 'serverPort');
  const out = Buffer.allocUnsafe(1 + tunnel.length + 1 + addr.length + 2 + 1 + sni.length + (v2 ? 1 + srv.length + 2 + 2 + alpn.length : 0));
  let o = 0;
  out[o++] = tunnel.length;
  o += tunnel.copy(out, o);
  out[o++] = addr.length;
  o += addr.copy(out, o);
  out.writeUInt16BE(port, o);
  o += 2;
  out[o++] = sni.length;
  o += sni.copy(out, o);
  if (!v2) return out;
  out[o++] = srv.length;
  o += srv.copy(out, o);
  out.writeUInt16BE(srvPort, o);
  o += 2;
  out.writeUInt16BE(alpn.length, o);
  alpn.copy(out, o + 2);
  return out;
}

function checkPort(port: number, name: string): void {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new RangeError(`${name} must be 0..65535`);
}

/** An ALPN list in its wire form; names that do not fit (empty, over 255 bytes, past the total) are left out. */
function encodeAlpn(names: string[]): Buffer {
  const parts: Buffer[] = [];
  let size = 0;
  for (const n of names) {
    const b = Buffer.from(n, 'latin1'); // ALPN names are bytes (RFC 7301 §3.1); latin1 keeps each one
    if (b.length === 0 || b.length > 255 || size + 1 + b.length > MAX_META_ALPN) continue;
    parts.push(Buffer.from([b.length]), b);
    size += 1 + b.length;
  }
  return Buffer.concat(parts, size);
}

/** Decodes open metadata; returns a reason string when it is malformed. */
export function decodeOpenMetadata(buf: Buffer): OpenMetadata | string {
  let o = 0;
  const str = (): string | undefined => {
    if (o >= buf.length) return undefined;
    const n = buf[o++];
    if (o + n > buf.length) return undefined;
    const s = buf.toString('utf8', o, o + n);
    o += n;
    return s;
  };
  const tunnelId = str();
  if (tunnelId === undefined || tunnelId.length === 0) return 'bad tunnel id';
  const clientAddress = str();
  if (clientAddress === undefined || o + 2 > buf.length) return 'bad client address';
  const clientPort = buf.readUInt16BE(o);
  o += 2;
  const serverName = str();
  if (serverName === undefined) return 'bad server name';
  const meta: OpenMetadata = { tunnelId };
  if (clientAddress) meta.clientAddress = clientAddress;
  if (clientPort) meta.clientPort = clientPort;
  if (serverName) meta.serverName = serverName;
  if (o === buf.length) return meta; // layout 1
  const serverAddress = str();
  if (serverAddress === undefined || o + 4 > buf.length) return 'bad server address';
  const serverPort = buf.readUInt16BE(o);
  const alpnLength = buf.readUInt16BE(o + 2);
  o += 4;
  if (alpnLength > MAX_META_ALPN || o + alpnLength !== buf.length) return 'bad alpn';
  const alpn: string[] = [];
  for (let p = o; p < buf.length;) {
    const n = buf[p++];
    if (n === 0 || p + n > buf.length) return 'bad alpn';
    alpn.push(buf.toString('latin1', p, p + n));
    p += n;
  }
  if (serverAddress) meta.serverAddress = serverAddress;
  if (serverPort) meta.serverPort = serverPort;
  meta.alpn = alpn;
  return meta;
}

/** Receives the frames of one message; returning false stops parsing (the session failed). */
export interface FrameSink {
  frame(type: number, flags: number, streamId: number, payload: Buffer): boolean;
  /** The message ends inside a frame header or payload. */
  truncated(offset: number): void;
}

/**
 * Splits one decrypted message into frames. Payloads are views into `message` (no copy): the
 * channel never reuses a message buffer, so holding them is safe.
 */
export function parseFrames(message: Buffer, sink: FrameSink): void {
  const end = message.length;
  let off = 0;
  while (off < end) {
    if (end - off < HEADER_SIZE) return sink.truncated(off);
    const len = (message[off + 2] << 8) | message[off + 3];
    const start = off + HEADER_SIZE;
    if (start + len > end) return sink.truncated(off);
    const id = message.readUInt32BE(off + 4);
    if (!sink.frame(message[off], message[off + 1], id, message.subarray(start, start + len))) return;
    off = start + len;
  }
}

/** Where a DATA or OPEN frame's payload comes from (a stream's send queue). */
export interface PayloadSource {
  /** Moves its next `n` bytes into `target` at `at`. */
  copyOut(target: Buffer, at: number, n: number): void;
}

/** OPEN payload bytes before the metadata: its u16 length. */
const OPEN_META_LENGTH_SIZE = 2;

/** The largest OPEN metadata one message of `maxMessageSize` bytes can carry. */
export function maxOpenMetadataSize(maxMessageSize: number): number {
  return maxMessageSize - HEADER_SIZE - OPEN_META_LENGTH_SIZE;
}

/**
 * Packs frames into one reusable message buffer; `take()` hands out the packed bytes as a view
 * that is valid until the next `put` (MessageChannel.send does not retain it). The only writer
 * of frame headers. Callers check the room first: no method here checks it.
 */
export class FramePacker {
  private readonly buf: Buffer;
  private offset = 0;
  constructor(readonly maxMessageSize: number) {
    this.buf = Buffer.allocUnsafe(maxMessageSize);
  }
  /** Bytes packed so far into the current message. */
  get length(): number {
    return this.offset;
  }
  /** Payload bytes that still fit after one more header (may be negative). */
  room(): number {
    return this.buf.length - this.offset - HEADER_SIZE;
  }
  /** First-data bytes that still fit after an OPEN header and `meta` (may be negative). */
  openRoom(meta: Buffer): number {
    return this.room() - OPEN_META_LENGTH_SIZE - meta.length;
  }
  /** A frame with `payload` copied in (PING, PONG), or none (FIN, CLOSE). */
  put(type: number, streamId: number, payload?: Uint8Array): void {
    const len = payload === undefined ? 0 : payload.length;
    const o = writeHeader(this.buf, this.offset, type, len, streamId);
    if (len > 0) this.buf.set(payload!, o);
    this.offset = o + len;
  }
  /** A frame with a u32 payload (WINDOW_UPDATE, RST, GO_AWAY). */
  putU32(type: number, streamId: number, value: number): void {
    const o = writeHeader(this.buf, this.offset, type, 4, streamId);
    this.buf.writeUInt32BE(value, o);
    this.offset = o + 4;
  }
  /** A DATA frame of the next `n` bytes of `src` (the one copy before encryption). */
  putData(streamId: number, src: PayloadSource, n: number): void {
    const o = writeHeader(this.buf, this.offset, FrameType.DATA, n, streamId);
    src.copyOut(this.buf, o, n);
    this.offset = o + n;
  }
  /** An OPEN frame: u16 metadata length, `meta`, then the next `n` bytes of `src` as first data. */
  putOpen(streamId: number, meta: Buffer, src: PayloadSource, n: number): void {
    let o = writeHeader(this.buf, this.offset, FrameType.OPEN, OPEN_META_LENGTH_SIZE + meta.length + n, streamId);
    this.buf.writeUInt16BE(meta.length, o);
    o += OPEN_META_LENGTH_SIZE;
    o += meta.copy(this.buf, o);
    if (n > 0) src.copyOut(this.buf, o, n);
    this.offset = o + n;
  }
  take(): Buffer {
    const m = this.buf.subarray(0, this.offset);
    this.offset = 0;
    return m;
  }
}
