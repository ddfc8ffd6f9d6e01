import type { PayloadSource } from './frame.js';

/**
 * Buffers in arrival order with their byte count; a stream's send queue and its receive queue.
 * The front moves by an index, never by `shift()` (whose cost grows with the queue), and the
 * array is reset whenever it empties. Chunks are held as given, never copied.
 */
export class ChunkQueue implements PayloadSource {
  private chunks: Buffer[] = [];
  private head = 0;
  /** Bytes of the front chunk already taken by `copyOut`. */
  private offset = 0;
  private queued = 0;

  /** Bytes queued and not yet taken. */
  get bytes(): number {
    return this.queued;
  }

  get isEmpty(): boolean {
    return this.head === this.chunks.length;
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.queued += chunk.length;
  }

  /** Takes the front chunk whole. Only for a queue that `copyOut` never takes from. */
  shift(): Buffer {
    const q = this.chunks;
    const chunk = q[this.head];
    q[this.head++] = undefined as unknown as Buffer; // let it be collected before the queue empties
    if (this.head === q.length) this.reset();
    this.queued -= chunk.length;
    return chunk;
  }

  /** Moves the first `n` bytes (at most `bytes`) into `target` at `at`. */
  copyOut(target: Buffer, at: number, n: number): void {
    const q = this.chunks;
    let left = n;
    while (left > 0) {
      const chunk = q[this.head];
      const avail = chunk.length - this.offset;
      const take = avail < left ? avail : left;
      chunk.copy(target, at, this.offset, this.offset + take);
      at += take;
      left -= take;
      if (take === avail) {
        q[this.head++] = undefined as unknown as Buffer;
        this.offset = 0;
        if (this.head === q.length) this.reset();
      } else {
        this.offset += take;
      }
    }
    this.queued -= n;
  }

  clear(): void {
    this.reset();
    this.queued = 0;
  }

  private reset(): void {
    this.chunks.length = 0;
    this.head = 0;
    this.offset = 0;
  }
}
