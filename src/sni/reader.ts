import { SniError } from './errors.js';
import { HANDSHAKE_CLIENT_HELLO, MIN_CLIENT_HELLO_BODY, parseHandshake, type ClientHelloInfo } from './client-hello.js';
import { CONTENT_HANDSHAKE, HANDSHAKE_HEADER, MAX_FRAGMENT, RECORD_HEADER } from './record.js';

/** Bounds for one ClientHello. */
export interface ReaderOptions {
  /** Most bytes the hello may take on the wire, record headers included. Default 16384. */
  maxBytes?: number;
  /** Return `serverName: null` for a hello without SNI instead of failing with NO_SNI. Default false. */
  allowMissingSni?: boolean;
}

/** The ClientHello's routing facts plus every byte pushed so far, to be forwarded verbatim. */
export type ClientHelloResult = ClientHelloInfo & { bytes: Buffer };

export const DEFAULT_MAX_BYTES = 16384;

// Record-layer states, as integers (ws receiver style).
const RECORD_HEADER_STATE = 0;
const FRAGMENT_STATE = 1;
const DONE_STATE = 2;

/**
 * Reads one ClientHello from bytes arriving in any split. The hello may span TCP chunks and TLS
 * records (RFC 8446 §5.1: handshake messages may be fragmented across records; the 24-bit
 * handshake length may exceed one record). Chunks are kept by reference with a byte count; the
 * only copies happen once, when the hello is complete. Headers are checked as soon as their byte
 * arrives, so plain HTTP fails on its first byte and a declared length that cannot fit in
 * `maxBytes` fails before its body is read.
 */
export class ClientHelloReader {
  private readonly maxBytes: number;
  private readonly allowMissingSni: boolean;
  private chunks: Buffer[] = [];
  /** Bytes pushed so far (the absolute offset of the next chunk). */
  private total = 0;
  private state = RECORD_HEADER_STATE;
  private failure: SniError | null = null;

  // Record layer: the header being read, then the fragment bytes left in the current record.
  private readonly recordHeader = [0, 0, 0, 0, 0];
  private recordHeaderLen = 0;
  private fragmentLeft = 0;
  private firstRecord = true;

  // Handshake layer, across records: its first 4 bytes, bytes seen, total (-1 until known).
  private readonly handshakeHeader = [0, 0, 0, 0];
  private handshakeSeen = 0;
  private handshakeTotal = -1;
  /** Absolute [start, end) ranges of handshake bytes, one per record (contiguous ones merged). */
  private ranges: number[] = [];

  constructor(opts: ReaderOptions = {}) {
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    this.allowMissingSni = opts.allowMissingSni ?? false;
  }

  /**
   * Feed the next chunk. Returns null when more bytes are needed, the result when the whole
   * ClientHello is in; throws SniError. After a result or error, further pushes throw.
   * The result's `bytes` is every byte pushed so far, verbatim (it may include bytes after the
   * hello, e.g. 0-RTT data).
   */
  push(chunk: Buffer): ClientHelloResult | null {
    if (this.failure) throw this.failure;
    if (this.state === DONE_STATE) throw new Error('ClientHelloReader: push after the ClientHello was read');
    if (chunk.length === 0) return null;
    const base = this.total;
    this.chunks.push(chunk);
    this.total += chunk.length;
    try {
      const done = this.consume(chunk, base);
      return done ? this.finish() : null;
    } catch (err) {
      this.chunks = [];
      this.ranges = [];
      this.state = DONE_STATE;
      // Only SniError leaves here; anything else would be a bug in this file, and is wrapped
      // rather than let a peer's bytes surface an unexpected exception type.
      this.failure = err instanceof SniError ? err : new SniError('MALFORMED', 'unparseable ClientHello', { cause: err });
      throw this.failure;
    }
  }

  /** Runs the record and handshake state machines over one chunk; true once the hello is in. */
  private consume(chunk: Buffer, base: number): boolean {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.state === RECORD_HEADER_STATE) {
        const b = chunk[i++];
        const k = this.recordHeaderLen++;
        this.recordHeader[k] = b;
        if (k === 0 && b !== CONTENT_HANDSHAKE) {
          // RFC 8446 §5.1: the first record must be a handshake; plain HTTP starts with a letter,
          // an SSLv2-compatible hello with a byte >= 0x80. Mid-hello, only handshake records may
          // come (§5.1: handshake messages MUST NOT be interleaved with other record types).
          if (this.firstRecord) throw new SniError('NOT_TLS', 'first byte is not a TLS handshake record');
          throw new SniError('MALFORMED', 'non-handshake record inside the ClientHello');
        }
        if (k === 1 && b !== 3) throw new SniError('MALFORMED', 'record version is not TLS');
        if (k === 4) {
          const len = (this.recordHeader[3] << 8) | b;
          // RFC 8446 §5.1: no zero-length handshake fragments; at most 2^14 bytes.
          if (len === 0 || len > MAX_FRAGMENT) throw new SniError('MALFORMED', 'record length out of range');
          this.recordHeaderLen = 0;
          this.firstRecord = false;
          this.fragmentLeft = len;
          this.state = FRAGMENT_STATE;
          this.checkFits(base + i);
        }
        continue;
      }
      // FRAGMENT_STATE: handshake bytes. The handshake header is read byte by byte (it may be
      // split across records), the body in bulk.
      if (this.handshakeSeen < HANDSHAKE_HEADER) {
        this.addRange(base + i, base + i + 1);
        this.handshakeHeader[this.handshakeSeen++] = chunk[i++];
        this.fragmentLeft--;
        if (this.handshakeSeen === HANDSHAKE_HEADER) this.onHandshakeHeader(base + i);
      } else {
        const take = Math.min(n - i, this.fragmentLeft, this.handshakeTotal - this.handshakeSeen);
        this.addRange(base + i, base + i + take);
        i += take;
        this.fragmentLeft -= take;
        this.handshakeSeen += take;
      }
      if (this.handshakeSeen === this.handshakeTotal) return true;
      if (this.fragmentLeft === 0) this.state = RECORD_HEADER_STATE;
    }
    return false;
  }

  private onHandshakeHeader(pos: number): void {
    const h = this.handshakeHeader;
    if (h[0] !== HANDSHAKE_CLIENT_HELLO) throw new SniError('MALFORMED', 'first handshake message is not a ClientHello');
    const bodyLen = (h[1] << 16) | (h[2] << 8) | h[3];
    if (bodyLen < MIN_CLIENT_HELLO_BODY) throw new SniError('MALFORMED', 'ClientHello too short');
    this.handshakeTotal = HANDSHAKE_HEADER + bodyLen;
    this.checkFits(pos);
  }

  /**
   * Fails early with TOO_LARGE when the hello cannot end within maxBytes: from absolute offset
   * `pos`, it still needs its remaining handshake bytes (at least a minimal ClientHello while the
   * length is unknown), plus another record header if they do not fit in the current record.
   */
  private checkFits(pos: number): void {
    const hsLeft = this.handshakeTotal >= 0
      ? this.handshakeTotal - this.handshakeSeen
      : HANDSHAKE_HEADER + MIN_CLIENT_HELLO_BODY - this.handshakeSeen;
    const end = pos + hsLeft + (hsLeft > this.fragmentLeft ? RECORD_HEADER : 0);
    if (end > this.maxBytes) throw new SniError('TOO_LARGE', `ClientHello exceeds ${this.maxBytes} bytes`);
  }

  private addRange(start: number, end: number): void {
    const r = this.ranges;
    if (r.length > 0 && r[r.length - 1] === start) r[r.length - 1] = end;
    else r.push(start, end);
  }

  private finish(): ClientHelloResult {
    this.state = DONE_STATE;
    const chunks = this.chunks;
    this.chunks = [];
    const bytes = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.total);
    const r = this.ranges;
    let hs: Buffer;
    if (r.length === 2) {
      hs = bytes.subarray(r[0], r[1]); // one record: no copy
    } else {
      hs = Buffer.allocUnsafe(this.handshakeTotal);
      for (let k = 0, off = 0; k < r.length; k += 2) off += bytes.copy(hs, off, r[k], r[k + 1]);
    }
    this.ranges = [];
    return { ...parseHandshake(hs, this.allowMissingSni), bytes };
  }
}

/**
 * Parses one complete ClientHello (record layer included); throws SniError. A hello cut short is
 * MALFORMED. Bytes after the hello are ignored.
 */
export function parseClientHello(bytes: Uint8Array, opts?: ReaderOptions): ClientHelloInfo {
  const reader = new ClientHelloReader(opts);
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const result = reader.push(buf);
  if (result === null) throw new SniError('MALFORMED', 'ClientHello truncated');
  return { serverName: result.serverName, alpn: result.alpn };
}
