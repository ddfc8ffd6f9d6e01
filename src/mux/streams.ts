import type { Stream } from './stream.js';

const MAX_STREAM_ID = 0xffffffff;

/**
 * A session's open streams by id, and the id rules (docs/protocol.md "Frame header"): the
 * client side opens odd ids, the server side even ones; each side's ids strictly increase and
 * are never reused, so a frame for an id that was once open is told apart from one for an id
 * never opened.
 */
export class StreamTable {
  private readonly open = new Map<number, Stream>();
  private nextLocalId: number;
  private lastPeerId = 0;

  constructor(private readonly role: 'client' | 'server') {
    this.nextLocalId = role === 'client' ? 1 : 2;
  }

  get size(): number {
    return this.open.size;
  }

  get(id: number): Stream | undefined {
    return this.open.get(id);
  }

  add(s: Stream): void {
    this.open.set(s.id, s);
  }

  delete(id: number): void {
    this.open.delete(id);
  }

  /** The open streams, as a copy (callers close streams as they go). */
  list(): Stream[] {
    return [...this.open.values()];
  }

  /** Empties the table; returns what it held. */
  takeAll(): Stream[] {
    const all = this.list();
    this.open.clear();
    return all;
  }

  /** Our ids are used up: a session ends when its 2^32 ids run out. */
  get exhausted(): boolean {
    return this.nextLocalId > MAX_STREAM_ID;
  }

  /** The id for the next stream we open. */
  nextId(): number {
    const id = this.nextLocalId;
    this.nextLocalId += 2;
    return id;
  }

  /** Records the id of a peer's OPEN; false (a protocol error) unless it is the peer's parity and above its last. */
  acceptPeerId(id: number): boolean {
    if (id === 0 || !this.isPeerId(id) || id <= this.lastPeerId) return false;
    this.lastPeerId = id;
    return true;
  }

  /** An id that was once open in this session: frames for it are late, not wrong. */
  wasOpen(id: number): boolean {
    if (id === 0) return false;
    return this.isPeerId(id) ? id <= this.lastPeerId : id < this.nextLocalId;
  }

  private isPeerId(id: number): boolean {
    return (id & 1) === (this.role === 'client' ? 0 : 1);
  }
}
