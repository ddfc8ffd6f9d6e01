import type { Socket } from 'node:net';
import type { Logger } from '../log.js';
import { TAG_LEN } from '../crypto/backend.js';
import type { CipherState } from '../crypto/cipher-state.js';
import { NoiseError } from '../crypto/errors.js';
import { ChannelError, type HandshakeError } from './errors.js';
import { FrameReader } from './frame-reader.js';
import { NoiseChannel, type ChannelInit } from './noise-channel.js';
import { TransportState, type RekeyPolicy } from './transport-state.js';

export interface ChannelOptions extends RekeyPolicy {
  /** The whole handshake (preamble to key confirmation) must finish within this. Default 10 000 ms. */
  handshakeTimeoutMs?: number;
  /** NoiseResponder logs one line per handshake here (noise.handshake_failed, noise.handshake_ok); connectChannel logs nothing. */
  logger?: Logger;
}

const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
export const EMPTY = new Uint8Array(0);

// Noise_IK sizes with our payloads (docs/protocol.md "Handshake"): msg1 = e (32) + enc s (32+16) + enc timestamp (12+16);
// msg2 = e (32) + enc empty payload (16); confirmation = one empty transport message (16).
export const TIMESTAMP_LEN = 12;
export const MSG1_LEN = 32 + 48 + TIMESTAMP_LEN + TAG_LEN;
export const MSG2_LEN = 32 + TAG_LEN;
export const CONFIRM_LEN = TAG_LEN;

/** A handshake message as one buffer: length (2 bytes, big-endian), then the message (docs/protocol.md "Framing"). */
export function frameOf(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(2 + message.length);
  out.writeUInt16BE(message.length, 0);
  out.set(message, 2);
  return out;
}

/** One step of a handshake's state machine: true to keep reading, false to wait for more bytes. */
export type Step = () => boolean;

/**
 * What both roles share: owns the socket from the first byte until the channel exists, feeds the
 * bytes to the role's `step`, enforces the deadline, and on any failure gives the socket up and
 * rejects.
 */
export abstract class Handshake {
  protected readonly reader = new FrameReader();
  private timer: NodeJS.Timeout | undefined;
  private done = false;
  private readonly onData = (chunk: Buffer): void => { this.reader.push(chunk); this.pump(); };
  private readonly onEnd = (): void => this.fail(this.closedEarly());
  private readonly onClose = (): void => this.fail(this.closedEarly());
  private readonly onError = (err: Error): void => this.fail(new ChannelError('HANDSHAKE_FAILED', `socket error during handshake: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { cause: err }));
  protected abstract step: Step;

  /** Succeeded or failed: the socket is no longer the handshake's. */
  get finished(): boolean { return this.done; }

  constructor(
    protected readonly socket: Socket,
    protected readonly options: ChannelOptions,
    private readonly resolve: (c: NoiseChannel) => void,
    private readonly reject: (e: HandshakeError) => void,
  ) {}

  protected begin(): void {
    const s = this.socket;
    s.setNoDelay(true);
    s.on('data', this.onData);
    s.on('end', this.onEnd);
    s.on('close', this.onClose);
    s.on('error', this.onError);
    const ms = this.options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.timer = setTimeout(() => this.fail(new ChannelError('TIMEOUT', `handshake not finished within ${ms} ms`)), ms);
    this.timer.unref?.();
    if (s.destroyed) this.fail(this.closedEarly());
  }

  protected abstract closedEarly(): ChannelError;

  private pump(): void {
    try {
      while (!this.done && this.step()) { /* next step */ }
    } catch (err) {
      this.fail(err instanceof ChannelError || err instanceof NoiseError ? err : new ChannelError('HANDSHAKE_FAILED', 'handshake failed', { cause: err }));
    }
  }

  private detach(): void {
    this.done = true;
    clearTimeout(this.timer);
    const s = this.socket;
    s.off('data', this.onData);
    s.off('end', this.onEnd);
    s.off('close', this.onClose);
    s.off('error', this.onError);
  }

  protected fail(err: HandshakeError, reply?: Buffer): void {
    if (this.done) return;
    this.detach();
    this.socket.on('error', () => {}); // late errors of a socket we gave up on are not news
    if (reply && this.socket.writable) this.socket.end(reply);
    else this.socket.destroy();
    if (reply) this.socket.setTimeout(1000, () => this.socket.destroy());
    this.reject(err);
  }

  /** Hands the socket, and the bytes already read past the handshake, to a new channel. */
  protected succeed(send: CipherState, recv: CipherState, peer: Omit<ChannelInit, 'socket' | 'reader' | 'transport'>): void {
    // Made while the handshake still owns the socket, so that a bad rekey option fails it.
    const transport = new TransportState(send, recv, this.options);
    this.detach();
    const channel = new NoiseChannel({ ...peer, socket: this.socket, reader: this.reader, transport });
    this.resolve(channel);
    channel.start();
  }
}
