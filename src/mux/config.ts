import { INITIAL_WINDOW } from './frame.js';

/** Tunables of one multiplexed session (every field in bytes, counts or milliseconds). */
export interface MuxConfig {
  /**
   * Receive window a new stream starts with. The protocol's initial credit is 256 KiB
   * (docs/protocol.md "Flow control"); a larger value is granted with a WINDOW_UPDATE right
   * after the stream opens. Must be at least 256 KiB.
   */
  initialStreamWindow: number;
  /**
   * Upper bound for a stream's receive window. The window doubles (up to this) while window
   * updates fall due sooner than two round trips apart, i.e. while the bandwidth-delay product
   * outgrows it (yamux / quic-go auto-tuning).
   */
  maxStreamWindow: number;
  /**
   * Cap on bytes buffered for all streams of the session on the receive side; it is also the
   * session-wide credit granted to the peer, so a peer can never make us hold more. Keep it
   * several times `maxStreamWindow`: one stalled stream then never starves the others.
   */
  maxSessionBuffered: number;
  /** Streams open at once in this session (both directions); further opens are refused. */
  maxStreams: number;
  /** Largest encoded open-frame metadata (tunnel id, client address and port, SNI) accepted. */
  maxOpenMetadata: number;
  /** How often a ping is sent to measure the RTT and prove the peer alive. */
  keepaliveIntervalMs: number;
  /** Silence longer than this (no message of any kind) ends the session: KEEPALIVE_TIMEOUT. */
  keepaliveTimeoutMs: number;
  /**
   * Bytes a stream queues for sending before `write()` returns false (then wait for drain).
   * Bounds the send side as the windows bound the receive side.
   */
  streamWriteHighWaterMark: number;
  /**
   * Bytes all streams of the session may queue for sending before `write()` reports
   * backpressure, unless the session is given a budget it shares with others (SessionOptions).
   */
  maxSessionQueued: number;
}

export const DEFAULT_MUX_CONFIG: Readonly<MuxConfig> = Object.freeze({
  initialStreamWindow: INITIAL_WINDOW,
  maxStreamWindow: 16 * 1024 * 1024,
  maxSessionBuffered: 64 * 1024 * 1024,
  maxStreams: 4096,
  maxOpenMetadata: 1024,
  keepaliveIntervalMs: 10_000,
  keepaliveTimeoutMs: 20_000,
  streamWriteHighWaterMark: 256 * 1024,
  maxSessionQueued: 64 * 1024 * 1024,
});

/** Merges `partial` over the defaults and rejects combinations the protocol cannot honour. */
export function resolveMuxConfig(partial: Partial<MuxConfig> = {}): MuxConfig {
  const c: MuxConfig = { ...DEFAULT_MUX_CONFIG };
  for (const [k, v] of Object.entries(partial)) if (v !== undefined) (c as unknown as Record<string, number>)[k] = v;
  for (const [k, v] of Object.entries(c)) {
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`mux config ${k} must be a positive integer, got ${v}`);
  }
  if (c.initialStreamWindow < INITIAL_WINDOW) throw new RangeError(`mux config initialStreamWindow must be >= ${INITIAL_WINDOW}`);
  if (c.maxStreamWindow < c.initialStreamWindow) throw new RangeError('mux config maxStreamWindow must be >= initialStreamWindow');
  if (c.maxStreamWindow > 0x7fffffff) throw new RangeError('mux config maxStreamWindow must be < 2^31');
  if (c.maxSessionBuffered < c.initialStreamWindow || c.maxSessionBuffered > 0x7fffffff) {
    throw new RangeError('mux config maxSessionBuffered must be >= initialStreamWindow and < 2^31');
  }
  if (c.maxOpenMetadata > 0xffff) throw new RangeError('mux config maxOpenMetadata must be <= 65535');
  return c;
}
