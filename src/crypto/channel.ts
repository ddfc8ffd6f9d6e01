import type { Socket } from 'node:net';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { TAG_LEN } from './backend.js';
import type { CipherState } from './cipher-state.js';
import { NoiseError, type NoiseErrorCode } from './errors.js';
import { FrameReader } from './frame-reader.js';
import { HandshakeState, MAX_NOISE_MESSAGE } from './handshake-state.js';
import { readsIntoReusedBuffer, setBytesHandler } from '../net/reused-read-buffer.js';
import { encodeKey, type KeyPair } from './keys.js';
import type { MessageChannel } from './message-channel.js';
import {
  MAGIC, PREAMBLE_LEN, PROTOCOL_VERSION, SUITE_BY_ID, SUITE_IDS, Status, initiatorPreamble, prologue, responderPreamble,
} from './preamble.js';
import { ReplayCache } from './replay-cache.js';
import { PROTOCOL_NAMES, type CipherName } from './suite.js';
import { tai64n } from './tai64n.js';

export type { CipherName } from './suite.js';

export interface ChannelOptions {
  /** Rekey the sending direction after this many messages under one key (Noise §11.3). Default 2^20. */
  rekeyAfterMessages?: number;
  /** Rekey the sending direction when its key is this old, checked at the next send. Default 120 000 ms. */
  rekeyAfterMs?: number;
  /** The whole handshake (preamble to key confirmation) must finish within this. Default 10 000 ms. */
  handshakeTimeoutMs?: number;
  logger?: Logger;
}

const DEFAULT_REKEY_MESSAGES = 2 ** 20;
const DEFAULT_REKEY_MS = 120_000;
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
const EMPTY = new Uint8Array(0);

// Noise_IK sizes with our payloads: msg1 = e (32) + enc s (32+16) + enc timestamp (12+16);
// msg2 = e (32) + enc empty payload (16); confirmation = one empty transport message (16).
const TIMESTAMP_LEN = 12;
const MSG1_LEN = 32 + 48 + TIMESTAMP_LEN + TAG_LEN;
const MSG2_LEN = 32 + TAG_LEN;
const CONFIRM_LEN = TAG_LEN;

/** Largest plaintext of one transport message: 65535 − 16. */
export const MAX_PLAINTEXT = MAX_NOISE_MESSAGE - TAG_LEN;

interface ChannelInit {
  socket: Socket;
  reader: FrameReader;
  send: CipherState;
  recv: CipherState;
  remoteStaticKey: Buffer;
  cipher: CipherName;
  handshakeHash: Buffer;
  initiator: boolean;
  options: ChannelOptions;
}

/**
 * An established Noise session over one TCP socket: length-prefixed transport messages,
 * rekeyed in-band (an empty message means "my next message is under the rekeyed key").
 * Message delivery starts on the next turn of the event loop after `connectChannel`/`accept`
 * resolves: set the hooks as soon as the promise resolves.
 */
export class NoiseChannel implements MessageChannel {
  readonly maxMessageSize = MAX_PLAINTEXT;
  /** The peer's static public key, authenticated by the handshake. */
  readonly remoteStaticKey: Buffer;
  readonly cipher: CipherName;
  /** Noise §11.2 channel binding: unique to this session. */
  readonly handshakeHash: Buffer;
  readonly socket: Socket;
  readonly initiator: boolean;
  /** Rekeys this side has signalled, and the peer's it has followed (Noise §11.3). */
  rekeysSent = 0;
  rekeysReceived = 0;

  onMessage: (message: Buffer) => void = () => {};
  onDrain: () => void = () => {};
  onClose: (error?: Error) => void = () => {};

  private readonly reader: FrameReader;
  private readonly scratch = Buffer.allocUnsafe(MAX_NOISE_MESSAGE);
  private readonly sendCs: CipherState;
  private readonly recvCs: CipherState;
  private readonly rekeyAfterMessages: number;
  private readonly rekeyAfterMs: number;
  private sentUnderKey = 0;
  private sendKeyAt = Date.now();
  private started = false;
  private userPaused = false;
  private delivering = false;
  private closed = false;
  private finished = false;
  private gotFin = false;
  private error: Error | undefined;

  /** @internal made by connectChannel and NoiseResponder.accept */
  constructor(init: ChannelInit) {
    this.socket = init.socket;
    this.reader = init.reader;
    this.sendCs = init.send;
    this.recvCs = init.recv;
    this.remoteStaticKey = init.remoteStaticKey;
    this.cipher = init.cipher;
    this.handshakeHash = init.handshakeHash;
    this.initiator = init.initiator;
    this.rekeyAfterMessages = init.options.rekeyAfterMessages ?? DEFAULT_REKEY_MESSAGES;
    this.rekeyAfterMs = init.options.rekeyAfterMs ?? DEFAULT_REKEY_MS;
    if (!(this.rekeyAfterMessages >= 1)) throw new NoiseError('BAD_STATE', 'rekeyAfterMessages must be at least 1');

    const s = this.socket;
    s.pause(); // until start(): the consumer has not set its hooks yet
    if (readsIntoReusedBuffer(s)) {
      // The view is overwritten by the next read: whatever is left of it is copied out first.
      setBytesHandler(s, (view) => { this.reader.push(view); this.deliver(); this.reader.retain(2 + MAX_NOISE_MESSAGE); });
    } else {
      s.on('data', (chunk: Buffer) => { this.reader.push(chunk); this.deliver(); });
    }
    s.on('end', () => {
      this.gotFin = true;
      // The channel has no half-open state of its own: the peer's FIN ends it (docs/protocol.md).
      if (!s.writableEnded) s.end();
    });
    s.on('error', (err) => { this.error ??= err; });
    s.on('close', () => this.finish());
    s.on('drain', () => { if (!this.closed) this.onDrain(); });
    if (s.destroyed) queueMicrotask(() => this.finish());
  }

  /** @internal Starts delivery one macrotask later, after the awaiting consumer has set its hooks. */
  start(): void {
    setImmediate(() => {
      this.started = true;
      this.deliver();
      if (!this.userPaused && !this.closed) this.socket.resume();
    });
  }

  send(message: Uint8Array): boolean {
    if (this.closed) return false;
    if (message.length === 0) throw new NoiseError('BAD_MESSAGE', 'empty messages are reserved (rekey marker)');
    if (message.length > MAX_PLAINTEXT) throw new NoiseError('MESSAGE_TOO_LARGE', `message of ${message.length} bytes exceeds ${MAX_PLAINTEXT}`);
    try {
      // Noise §11.3: rekey is the application's to signal; ours is an empty message, sent under the old key.
      if (this.sentUnderKey >= this.rekeyAfterMessages || Date.now() - this.sendKeyAt >= this.rekeyAfterMs) this.sendRekey();
      const [ct, tag] = this.sendCs.encryptWithAdParts(EMPTY, message);
      return this.writeFrame(ct, tag);
    } catch (err) {
      if (err instanceof NoiseError && err.code === 'NONCE_EXHAUSTED') {
        // Noise §5.1: the session is over. End it cleanly: what was sent is flushed, then FIN.
        this.closed = true;
        this.error ??= err;
        this.socket.end();
      } else {
        this.destroy(err as Error);
      }
      return false;
    }
  }

  /** Batches the messages sent until `uncork` into one socket write (writev). */
  cork(): void { this.socket.cork(); }
  uncork(): void { this.socket.uncork(); }

  private sendRekey(): void {
    const [ct, tag] = this.sendCs.encryptWithAdParts(EMPTY, EMPTY);
    this.writeFrame(ct, tag);
    this.sendCs.rekey();
    this.rekeysSent++;
    this.sentUnderKey = 0;
    this.sendKeyAt = Date.now();
  }

  private writeFrame(ct: Uint8Array, tag: Uint8Array): boolean {
    const header = Buffer.allocUnsafe(2); // fresh each time: the socket may still hold the last one
    header.writeUInt16BE(ct.length + tag.length, 0);
    const s = this.socket;
    s.cork();
    s.write(header);
    if (ct.length > 0) s.write(ct);
    const ok = s.write(tag);
    s.uncork();
    this.sentUnderKey++;
    return ok;
  }

  /** Decrypts and hands out buffered messages until none is whole, or paused, or closed. */
  private deliver(): void {
    if (this.delivering || !this.started) return;
    this.delivering = true;
    try {
      while (!this.userPaused && !this.closed) {
        // The frame is decrypted at once into new memory, so a spanning one can reuse one buffer.
        const frame = this.reader.readFrame(this.scratch);
        if (frame === null) break;
        if (frame.length < TAG_LEN) { this.destroy(new NoiseError('BAD_MESSAGE', 'transport message shorter than its tag')); break; }
        let plaintext: Buffer;
        try {
          const split = frame.length - TAG_LEN;
          plaintext = this.recvCs.decryptWithAdParts(EMPTY, frame.subarray(0, split), frame.subarray(split)) as Buffer;
        } catch (err) {
          this.destroy(err instanceof NoiseError ? err : new NoiseError('DECRYPT_FAILED', 'message authentication failed'));
          break;
        }
        if (plaintext.length === 0) { this.recvCs.rekey(); this.rekeysReceived++; continue; } // the peer's rekey marker
        this.onMessage(plaintext);
      }
    } finally {
      this.delivering = false;
    }
  }

  pause(): void {
    this.userPaused = true;
    this.socket.pause();
  }

  resume(): void {
    if (this.closed) return;
    this.userPaused = false;
    this.deliver();
    if (this.started && !this.userPaused && !this.closed) this.socket.resume();
  }

  end(): void {
    if (this.closed) return;
    this.socket.end();
  }

  destroy(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.error ??= error ?? new NoiseError('CLOSED', 'channel destroyed');
    this.socket.destroy();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.closed = true;
    // A clean end is a FIN both ways; a reset or a bare close is reported as an error.
    const err = this.error ?? (this.gotFin ? undefined : new NoiseError('CLOSED', 'connection closed without FIN'));
    this.onClose(err);
  }

  /** For tests of nonce exhaustion only (Noise §5.1 SetNonce); both peers must agree on the values. */
  setNoncesForTestingOnly(send: bigint | null, receive: bigint | null): void {
    if (send !== null) this.sendCs.setNonce(send);
    if (receive !== null) this.recvCs.setNonce(receive);
  }
}

// ---------------------------------------------------------------------------------------------
// Handshake driver shared by both roles: owns the socket until the channel exists.

type Step = () => boolean; // returns true to keep reading, false to wait for more bytes

abstract class Handshake {
  protected readonly reader = new FrameReader();
  private timer: NodeJS.Timeout | undefined;
  private done = false;
  private readonly onData = (chunk: Buffer): void => { this.reader.push(chunk); this.pump(); };
  private readonly onEnd = (): void => this.fail(this.closedEarly());
  private readonly onClose = (): void => this.fail(this.closedEarly());
  private readonly onError = (err: Error): void => this.fail(new NoiseError('HANDSHAKE_FAILED', `socket error during handshake: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { cause: err }));
  protected abstract step: Step;

  constructor(
    protected readonly socket: Socket,
    protected readonly options: ChannelOptions,
    private readonly resolve: (c: NoiseChannel) => void,
    private readonly reject: (e: NoiseError) => void,
  ) {}

  protected begin(): void {
    const s = this.socket;
    s.setNoDelay(true);
    s.on('data', this.onData);
    s.on('end', this.onEnd);
    s.on('close', this.onClose);
    s.on('error', this.onError);
    const ms = this.options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.timer = setTimeout(() => this.fail(new NoiseError('TIMEOUT', `handshake not finished within ${ms} ms`)), ms);
    this.timer.unref?.();
    if (s.destroyed) this.fail(this.closedEarly());
  }

  protected abstract closedEarly(): NoiseError;

  private pump(): void {
    try {
      while (!this.done && this.step()) { /* next step */ }
    } catch (err) {
      this.fail(err instanceof NoiseError ? err : new NoiseError('HANDSHAKE_FAILED', 'handshake failed', { cause: err }));
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

  protected fail(err: NoiseError, reply?: Buffer): void {
    if (this.done) return;
    this.detach();
    this.socket.on('error', () => {}); // late errors of a socket we gave up on are not news
    if (reply && this.socket.writable) this.socket.end(reply);
    else this.socket.destroy();
    if (reply) this.socket.setTimeout(1000, () => this.socket.destroy());
    this.reject(err);
  }

  protected succeed(init: Omit<ChannelInit, 'socket' | 'reader' | 'options'>): NoiseChannel {
    this.detach();
    const channel = new NoiseChannel({ ...init, socket: this.socket, reader: this.reader, options: this.options });
    this.resolve(channel);
    channel.start();
    return channel;
  }
}

function frameOf(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(2 + message.length);
  out.writeUInt16BE(message.length, 0);
  out.set(message, 2);
  return out;
}

class InitiatorHandshake extends Handshake {
  private readonly hs: HandshakeState;
  private state: 'reply' | 'msg2' = 'reply';

  constructor(socket: Socket, private readonly opts: ChannelOptions & { staticKey: KeyPair; remoteStaticKey: Uint8Array; cipher?: CipherName },
    resolve: (c: NoiseChannel) => void, reject: (e: NoiseError) => void) {
    super(socket, opts, resolve, reject);
    const cipher = opts.cipher ?? 'chachapoly';
    const preamble = initiatorPreamble(cipher);
    this.hs = new HandshakeState({
      protocolName: PROTOCOL_NAMES[cipher], initiator: true, prologue: prologue(preamble),
      s: opts.staticKey.privateKey, rs: opts.remoteStaticKey,
    });
    // -> e, es, s, ss  (payload: TAI64N timestamp). Sent with the preamble: 0.5 RTT saved.
    const msg1 = this.hs.writeMessage(tai64n());
    this.begin();
    if (!socket.destroyed) socket.write(Buffer.concat([preamble, frameOf(msg1)]));
  }

  protected closedEarly(): NoiseError {
    return new NoiseError('HANDSHAKE_FAILED', 'relay closed the connection during the handshake (is the relay public key right, and is this key allowed?)');
  }

  protected step: Step = () => {
    if (this.state === 'reply') {
      const reply = this.reader.readRaw(PREAMBLE_LEN);
      if (reply === null) return false;
      checkReply(reply);
      this.state = 'msg2';
      return true;
    }
    const len = this.reader.peekLength();
    if (len < 0) return false;
    if (len !== MSG2_LEN) throw new NoiseError('HANDSHAKE_FAILED', `malformed handshake reply (${len} bytes)`);
    const msg2 = this.reader.readFrame();
    if (msg2 === null) return false;
    try {
      this.hs.readMessage(msg2); // <- e, ee, se
    } catch (err) {
      throw new NoiseError('HANDSHAKE_FAILED', 'relay failed to authenticate: its handshake reply did not decrypt', { cause: err });
    }
    const [send, recv] = this.hs.split();
    // Key confirmation: one empty transport message proves we hold the keys (docs/protocol.md).
    const [ct, tag] = send.encryptWithAdParts(EMPTY, EMPTY);
    const header = Buffer.allocUnsafe(2);
    header.writeUInt16BE(ct.length + tag.length, 0);
    this.socket.write(Buffer.concat([header, ct, tag]));
    this.succeed({
      send, recv, remoteStaticKey: Buffer.from(this.opts.remoteStaticKey), cipher: this.opts.cipher ?? 'chachapoly',
      handshakeHash: Buffer.from(this.hs.getHandshakeHash()), initiator: true,
    });
    return false;
  };
}

function checkReply(reply: Buffer): void {
  if (!reply.subarray(0, 4).equals(MAGIC)) throw new NoiseError('GARBAGE', 'the server is not a relay (bad preamble magic)');
  const version = reply[4];
  const status = reply[5];
  if (version !== PROTOCOL_VERSION || status === Status.VERSION_MISMATCH) {
    throw new NoiseError('VERSION_MISMATCH', `relay speaks protocol version ${version}, this agent ${PROTOCOL_VERSION}`);
  }
  if (status === Status.SUITE_UNSUPPORTED) throw new NoiseError('SUITE_UNSUPPORTED', 'relay does not support the requested cipher suite');
  if (status === Status.TOO_MANY_PENDING) throw new NoiseError('TOO_MANY_PENDING', 'relay refused: too many pending handshakes from this address');
  if (status !== Status.OK) throw new NoiseError('HANDSHAKE_FAILED', `relay refused the handshake (status ${status})`);
}

/**
 * Initiator (agent): pins the relay's public key; resolves after the handshake, once it has sent
 * its key-confirmation message. Rejects with a NoiseError and destroys the socket otherwise.
 */
export function connectChannel(
  socket: Socket,
  opts: ChannelOptions & { staticKey: KeyPair; remoteStaticKey: Uint8Array; cipher?: CipherName },
): Promise<NoiseChannel> {
  return new Promise((resolve, reject) => {
    try {
      new InitiatorHandshake(socket, opts, resolve, reject);
    } catch (err) {
      socket.destroy();
      reject(err);
    }
  });
}

// ---------------------------------------------------------------------------------------------

class ResponderHandshake extends Handshake {
  private state: 'preamble' | 'msg1' | 'confirm' = 'preamble';
  private hs: HandshakeState | null = null;
  private cipher: CipherName = 'chachapoly';
  private timestamp: Buffer | null = null;
  private agentKey = '';
  private cs: [CipherState, CipherState] | null = null;

  constructor(socket: Socket, private readonly responder: NoiseResponder, private readonly staticKey: KeyPair,
    options: ChannelOptions, resolve: (c: NoiseChannel) => void, reject: (e: NoiseError) => void) {
    super(socket, options, resolve, reject);
    this.begin();
  }

  protected closedEarly(): NoiseError {
    return new NoiseError('HANDSHAKE_FAILED', `connection closed during the handshake (${this.state})`);
  }

  /** Fails with a short plaintext status to the peer, so that it can say what went wrong. */
  refuse(err: NoiseError, status: number): void {
    this.fail(err, responderPreamble(status));
  }

  protected step: Step = () => {
    switch (this.state) {
      case 'preamble': {
        const p = this.reader.readRaw(PREAMBLE_LEN);
        if (p === null) return false; // a peer that sends fewer bytes and waits meets the deadline
        if (!p.subarray(0, 4).equals(MAGIC)) throw new NoiseError('GARBAGE', 'not a relay agent: bad preamble magic');
        if (p[4] !== PROTOCOL_VERSION) {
          this.refuse(new NoiseError('VERSION_MISMATCH', `agent speaks protocol version ${p[4]}, this relay ${PROTOCOL_VERSION}`), Status.VERSION_MISMATCH);
          return false;
        }
        const cipher = SUITE_BY_ID.get(p[5]);
        if (cipher === undefined || !this.responder.ciphers.has(cipher)) {
          this.refuse(new NoiseError('SUITE_UNSUPPORTED', `agent asked for unsupported suite ${p[5]}`), Status.SUITE_UNSUPPORTED);
          return false;
        }
        this.cipher = cipher;
        const preamble = Buffer.from(p);
        this.hs = new HandshakeState({ protocolName: PROTOCOL_NAMES[cipher], initiator: false, prologue: prologue(preamble), s: this.staticKey.privateKey });
        this.socket.write(responderPreamble(Status.OK));
        this.state = 'msg1';
        return true;
      }
      case 'msg1': {
        const len = this.reader.peekLength();
        if (len < 0) return false;
        if (len !== MSG1_LEN) throw new NoiseError('HANDSHAKE_FAILED', `malformed first handshake message (${len} bytes)`);
        const msg1 = this.reader.readFrame();
        if (msg1 === null) return false;
        const hs = this.hs!;
        let payload: Uint8Array;
        try {
          payload = hs.readMessage(msg1); // -> e, es, s, ss
        } catch (err) {
          throw new NoiseError('HANDSHAKE_FAILED', 'first handshake message did not authenticate (the agent may have a wrong relay key)', { cause: err });
        }
        if (payload.length !== TIMESTAMP_LEN) throw new NoiseError('HANDSHAKE_FAILED', 'first handshake message has no timestamp');
        this.timestamp = Buffer.from(payload);
        this.agentKey = encodeKey(hs.getRemoteStaticKey()!);
        // WireGuard's rule: a first message not newer than the last confirmed one is a replay.
        if (!this.responder.replayCache.isFresh(this.agentKey, this.timestamp)) {
          throw new NoiseError('REPLAY', 'replayed first handshake message');
        }
        const msg2 = hs.writeMessage(EMPTY); // <- e, ee, se
        this.socket.write(frameOf(msg2));
        const [i2r, r2i] = hs.split();
        this.cs = [r2i, i2r];
        this.state = 'confirm';
        return true;
      }
      case 'confirm': {
        const len = this.reader.peekLength();
        if (len < 0) return false;
        if (len !== CONFIRM_LEN) throw new NoiseError('HANDSHAKE_FAILED', 'malformed key confirmation');
        const frame = this.reader.readFrame();
        if (frame === null) return false;
        const [send, recv] = this.cs!;
        try {
          recv.decryptWithAd(EMPTY, frame);
        } catch (err) {
          throw new NoiseError('HANDSHAKE_FAILED', 'key confirmation failed', { cause: err });
        }
        // Only now, with the agent's key proven, is any state kept (docs/protocol.md "Replay").
        this.responder.replayCache.confirm(this.agentKey, this.timestamp!);
        const hs = this.hs!;
        this.succeed({
          send, recv, remoteStaticKey: Buffer.from(hs.getRemoteStaticKey()!), cipher: this.cipher,
          handshakeHash: Buffer.from(hs.getHandshakeHash()), initiator: false,
        });
        return false;
      }
    }
  };
}

/** Responder (relay): one per listener; shares the replay cache and the per-address pending limit. */
export class NoiseResponder {
  /** @internal */ readonly replayCache: ReplayCache;
  /** @internal */ readonly ciphers: ReadonlySet<CipherName>;
  private readonly pending = new Map<string, number>();
  private readonly maxPendingPerAddress: number;
  private readonly maxPending: number;
  private pendingTotal = 0;
  private readonly logger: Logger;

  constructor(private readonly opts: ChannelOptions & {
    staticKey: KeyPair; maxPendingPerAddress?: number; maxPending?: number; replayCacheSize?: number; ciphers?: CipherName[];
  }) {
    this.maxPending = opts.maxPending ?? 1024;
    this.replayCache = new ReplayCache(opts.replayCacheSize ?? 100_000);
    this.maxPendingPerAddress = opts.maxPendingPerAddress ?? 16;
    this.ciphers = new Set(opts.ciphers ?? Object.keys(SUITE_IDS) as CipherName[]);
    this.logger = opts.logger ?? silentLogger;
  }

  /** Handshakes in progress from one address. */
  pendingFrom(address: string): number { return this.pending.get(address) ?? 0; }

  /**
   * Resolves only after key confirmation (the initiator's first transport message authenticated);
   * rejects with NoiseError (VERSION_MISMATCH, SUITE_UNSUPPORTED, HANDSHAKE_FAILED, REPLAY,
   * TIMEOUT, TOO_MANY_PENDING, GARBAGE) and destroys the socket; logs one line per failure.
   */
  accept(socket: Socket): Promise<NoiseChannel> {
    const address = socket.remoteAddress ?? 'unknown';
    const remote = `${address}:${socket.remotePort ?? 0}`;
    const count = this.pendingFrom(address);
    const onFailure = (err: NoiseError): NoiseError => {
      this.logger.warn({ event: 'noise_handshake_failed', code: err.code, remote }, err.message);
      return err;
    };
    // Per address, and overall: many addresses (an IPv6 range) must not hold many handshakes.
    if (count >= this.maxPendingPerAddress || this.pendingTotal >= this.maxPending) {
      socket.on('error', () => {});
      socket.end(responderPreamble(Status.TOO_MANY_PENDING));
      socket.setTimeout(1000, () => socket.destroy());
      return Promise.reject(onFailure(new NoiseError('TOO_MANY_PENDING', count >= this.maxPendingPerAddress
        ? `too many pending handshakes from ${address} (limit ${this.maxPendingPerAddress})`
        : `too many pending handshakes (limit ${this.maxPending})`)));
    }
    this.pending.set(address, count + 1);
    this.pendingTotal++;
    const release = (): void => {
      this.pendingTotal--;
      const n = this.pendingFrom(address) - 1;
      if (n <= 0) this.pending.delete(address); else this.pending.set(address, n);
    };
    return new Promise<NoiseChannel>((resolve, reject) => {
      new ResponderHandshake(socket, this, this.opts.staticKey, this.opts,
        (ch) => {
          release();
          this.logger.debug({ event: 'noise_handshake_ok', remote, agent: encodeKey(ch.remoteStaticKey), cipher: ch.cipher }, 'agent authenticated');
          resolve(ch);
        },
        (err) => { release(); reject(onFailure(err)); });
    });
  }
}

export type { NoiseErrorCode };
