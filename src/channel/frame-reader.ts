/**
 * Reassembles 2-byte big-endian length-prefixed messages from TCP chunks of any size, in the
 * manner of ws's Receiver: chunks stay in a list; a message inside one chunk is returned as a
 * view (no copy); only a message spanning chunks is copied into new memory.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private offset = 0; // read position in chunks[0]
  private buffered = 0;
  // retain()'s two buffers, used in turn: the one being filled is never the one being read.
  private carries: [Buffer | null, Buffer | null] = [null, null];
  private nextCarry = 0;

  get bufferedBytes(): number { return this.buffered; }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /**
   * Copies the bytes still buffered into memory of the reader's own, so the chunks pushed so far
   * may be overwritten (a socket reading into one reused buffer). What is left between reads is
   * usually part of one message, so two carry buffers of `carrySize` serve without allocating.
   */
  retain(carrySize: number): void {
    if (this.buffered === 0) { this.chunks.length = 0; this.offset = 0; return; }
    let carry: Buffer;
    if (this.buffered <= carrySize) {
      const i = this.nextCarry;
      this.nextCarry ^= 1;
      carry = this.carries[i] ??= Buffer.allocUnsafeSlow(carrySize);
    } else {
      carry = Buffer.allocUnsafe(this.buffered);
    }
    let filled = 0;
    for (let i = 0; i < this.chunks.length; i++) {
      const c = this.chunks[i];
      const from = i === 0 ? this.offset : 0;
      c.copy(carry, filled, from);
      filled += c.length - from;
    }
    this.chunks.length = 0; // the list is reused: no array per read
    this.chunks.push(carry.subarray(0, filled));
    this.offset = 0;
  }

  /** The next `n` raw bytes, or null when fewer are buffered. */
  readRaw(n: number): Buffer | null {
    return this.buffered < n ? null : this.consume(n);
  }

  /** The length field of the next message, or -1 when its two bytes have not all arrived. */
  peekLength(): number {
    if (this.buffered < 2) return -1;
    const c = this.chunks[0];
    if (c.length - this.offset >= 2) return c.readUInt16BE(this.offset);
    return (c[this.offset] << 8) | this.chunks[1][0];
  }

  /**
   * The next whole message body (without its length), or null when it has not all arrived.
   * A message that spans chunks is copied into `scratch` when given (the caller then uses the
   * result before the next call), else into new memory.
   */
  readFrame(scratch?: Buffer): Buffer | null {
    const len = this.peekLength();
    if (len < 0 || this.buffered < 2 + len) return null;
    this.skip(2);
    return this.consume(len, scratch);
  }

  private skip(n: number): void {
    this.buffered -= n;
    while (n > 0) {
      const c = this.chunks[0];
      const avail = c.length - this.offset;
      if (avail > n) { this.offset += n; return; }
      n -= avail;
      this.chunks.shift();
      this.offset = 0;
    }
  }

  private consume(n: number, scratch?: Buffer): Buffer {
    const c = this.chunks[0];
    if (n === 0) return Buffer.alloc(0);
    const avail = c.length - this.offset;
    if (avail >= n) { // common case: a view into the chunk
      const view = c.subarray(this.offset, this.offset + n);
      this.skip(n);
      return view;
    }
    const out = scratch !== undefined && scratch.length >= n ? scratch.subarray(0, n) : Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0];
      const take = Math.min(head.length - this.offset, n - filled);
      head.copy(out, filled, this.offset, this.offset + take);
      filled += take;
      this.skip(take);
    }
    return out;
  }
}
