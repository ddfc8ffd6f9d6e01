// TEST ONLY: a plaintext MessageChannel (2-byte big-endian length prefix, no encryption) so the
// mux can be tested over real sockets before the Noise channel lands. Never used by src/.
import type { Socket } from 'node:net';
import type { MessageChannel } from '../src/channel/message-channel.js';

const noop = (): void => {};

export class PlaintextChannelForTestsOnly implements MessageChannel {
  readonly maxMessageSize = 65519;
  onMessage: (message: Buffer) => void = noop;
  onDrain: () => void = noop;
  onClose: (error?: Error) => void = noop;

  private chunks: Buffer[] = [];
  private buffered = 0;
  private paused = false;
  private finished = false;
  private peerEnded = false;
  private localEnded = false;
  private error: Error | undefined;

  constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      this.parse();
    });
    socket.on('drain', () => this.onDrain());
    socket.on('end', () => {
      this.peerEnded = true;
      this.end(); // the contract has no "peer half-closed" hook: finish our side too
    });
    socket.on('error', (err) => {
      this.error ??= err;
    });
    socket.on('close', () => {
      if (this.finished) return;
      this.finished = true;
      const clean = this.error === undefined && this.peerEnded && this.localEnded;
      this.onClose(clean ? undefined : (this.error ?? new Error('socket closed')));
    });
  }

  send(message: Uint8Array): boolean {
    if (message.length > this.maxMessageSize) throw new RangeError(`message of ${message.length} bytes exceeds ${this.maxMessageSize}`);
    if (this.localEnded || this.socket.destroyed) return false;
    const b = Buffer.allocUnsafe(2 + message.length);
    b.writeUInt16BE(message.length, 0);
    b.set(message, 2);
    return this.socket.write(b);
  }

  pause(): void {
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    this.paused = false;
    this.socket.resume();
    setImmediate(() => this.parse());
  }

  end(): void {
    if (this.localEnded) return;
    this.localEnded = true;
    this.socket.end();
  }

  destroy(error?: Error): void {
    this.error ??= error ?? new Error('channel destroyed');
    this.socket.destroy();
  }

  private parse(): void {
    while (!this.paused && !this.finished && this.buffered >= 2) {
      const len = this.peekLength();
      if (this.buffered < 2 + len) return;
      this.consume(2);
      const message = this.consume(len);
      if (len > this.maxMessageSize) {
        this.destroy(new Error(`message of ${len} bytes exceeds ${this.maxMessageSize}`));
        return;
      }
      this.onMessage(message);
    }
  }

  private peekLength(): number {
    const c0 = this.chunks[0];
    if (c0.length >= 2) return c0.readUInt16BE(0);
    return (c0[0] << 8) | this.chunks[1][0];
  }

  // ws receiver.js style: a view when the bytes lie in one chunk, a copy only across chunks.
  private consume(n: number): Buffer {
    this.buffered -= n;
    const c0 = this.chunks[0];
    if (n === c0.length) return this.chunks.shift()!;
    if (n < c0.length) {
      this.chunks[0] = c0.subarray(n);
      return c0.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0];
      const take = Math.min(c.length, n - off);
      c.copy(out, off, 0, take);
      off += take;
      if (take === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(take);
    }
    return out;
  }
}
