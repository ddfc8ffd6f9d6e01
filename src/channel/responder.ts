import type { Socket } from 'node:net';
import type { Logger } from '../log.js';
import { LogLimiter, silentLogger } from '../log.js';
import type { CipherState } from '../crypto/cipher-state.js';
import { HandshakeState } from '../crypto/handshake-state.js';
import { encodeKey, type KeyPair } from '../crypto/keys.js';
import { CONFIRM_LEN, EMPTY, Handshake, MSG1_LEN, TIMESTAMP_LEN, frameOf, type ChannelOptions, type Step } from './handshake.js';
import { ChannelError, type HandshakeError } from './errors.js';
import type { NoiseChannel } from './noise-channel.js';
import { MAGIC, PREAMBLE_LEN, PROTOCOL_VERSION, SUITE_BY_ID, SUITE_IDS, Status, prologue, responderPreamble } from './preamble.js';
import { ReplayCache } from './replay-cache.js';
import { PROTOCOL_NAMES, type CipherName } from './suite.js';

class ResponderHandshake extends Handshake {
  private state: 'preamble' | 'msg1' | 'confirm' = 'preamble';
  private hs: HandshakeState | null = null;
  private cipher: CipherName = 'chachapoly';
  private timestamp: Buffer | null = null;
  private agentKey = '';
  private cs: [CipherState, CipherState] | null = null;
  private readonly startedAt = performance.now();

  constructor(socket: Socket, private readonly responder: NoiseResponder, private readonly staticKey: KeyPair,
    options: ChannelOptions, resolve: (c: NoiseChannel) => void, reject: (e: HandshakeError) => void) {
    super(socket, options, resolve, reject);
    this.begin();
  }

  protected closedEarly(): ChannelError {
    return new ChannelError('HANDSHAKE_FAILED', `connection closed during the handshake (${this.state})`);
  }

  /** Gives way to a new handshake: the pending limit is full. */
  evict(): void {
    this.fail(new ChannelError('TOO_MANY_PENDING', `evicted after ${Math.round(performance.now() - this.startedAt)} ms unfinished (${this.state}): the pending limit is full`));
  }

  /** Fails with a short plaintext status to the peer, so that it can say what went wrong. */
  refuse(err: ChannelError, status: number): void {
    this.fail(err, responderPreamble(status));
  }

  protected step: Step = () => {
    switch (this.state) {
      case 'preamble': {
        const p = this.reader.readRaw(PREAMBLE_LEN);
        if (p === null) return false; // a peer that sends fewer bytes and waits meets the deadline
        if (!p.subarray(0, 4).equals(MAGIC)) throw new ChannelError('GARBAGE', 'not a relay agent: bad preamble magic');
        if (p[4] !== PROTOCOL_VERSION) {
          this.refuse(new ChannelError('VERSION_MISMATCH', `agent speaks protocol version ${p[4]}, this relay ${PROTOCOL_VERSION}`), Status.VERSION_MISMATCH);
          return false;
        }
        const cipher = SUITE_BY_ID.get(p[5]);
        if (cipher === undefined || !this.responder.ciphers.has(cipher)) {
          this.refuse(new ChannelError('SUITE_UNSUPPORTED', `agent asked for unsupported suite ${p[5]}`), Status.SUITE_UNSUPPORTED);
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
        if (len !== MSG1_LEN) throw new ChannelError('HANDSHAKE_FAILED', `malformed first handshake message (${len} bytes)`);
        const msg1 = this.reader.readFrame();
        if (msg1 === null) return false;
        const hs = this.hs!;
        let payload: Uint8Array;
        try {
          payload = hs.readMessage(msg1); // -> e, es, s, ss
        } catch (err) {
          throw new ChannelError('HANDSHAKE_FAILED', 'first handshake message did not authenticate (the agent may have a wrong relay key)', { cause: err });
        }
        if (payload.length !== TIMESTAMP_LEN) throw new ChannelError('HANDSHAKE_FAILED', 'first handshake message has no timestamp');
        this.timestamp = Buffer.from(payload);
        this.agentKey = encodeKey(hs.getRemoteStaticKey()!);
        // WireGuard's rule: a first message not newer than the last confirmed one is a replay.
        if (!this.responder.replayCache.isFresh(this.agentKey, this.timestamp)) {
          throw new ChannelError('REPLAY', 'replayed first handshake message');
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
        if (len !== CONFIRM_LEN) throw new ChannelError('HANDSHAKE_FAILED', 'malformed key confirmation');
        const frame = this.reader.readFrame();
        if (frame === null) return false;
        const [send, recv] = this.cs!;
        try {
          recv.decryptWithAd(EMPTY, frame);
        } catch (err) {
          throw new ChannelError('HANDSHAKE_FAILED', 'key confirmation failed', { cause: err });
        }
        // Only now, with the agent's key proven, is any state kept (docs/protocol.md "Replay").
        this.responder.replayCache.confirm(this.agentKey, this.timestamp!);
        const hs = this.hs!;
        this.succeed(send, recv, {
          remoteStaticKey: Buffer.from(hs.getRemoteStaticKey()!), cipher: this.cipher,
          handshakeHash: Buffer.from(hs.getHandshakeHash()), initiator: false,
        });
        return false;
      }
    }
  };
}

/** NoiseResponder's options: the channel's, plus the relay's key pair and its limits. */
export type ResponderOptions = ChannelOptions & {
  staticKey: KeyPair; maxPendingPerAddress?: number; maxPending?: number; replayCacheSize?: number; ciphers?: CipherName[];
};

/** Responder (relay): one per listener; shares the replay cache and the per-address pending limit. */
export class NoiseResponder {
  /** @internal */ readonly replayCache: ReplayCache;
  /** @internal */ readonly ciphers: ReadonlySet<CipherName>;
  private readonly pending = new Map<string, number>();
  /** Unfinished handshakes, oldest first: the oldest gives way when the limit is full. */
  private readonly inFlight = new Set<ResponderHandshake>();
  private readonly maxPendingPerAddress: number;
  private readonly maxPending: number;
  private pendingTotal = 0;
  private readonly logger: Logger;
  /** A flood of failing handshakes costs a few lines, then one count. */
  private readonly failures: LogLimiter;

  constructor(private readonly opts: ResponderOptions) {
    this.maxPending = opts.maxPending ?? 1024;
    this.replayCache = new ReplayCache(opts.replayCacheSize ?? 100_000);
    this.maxPendingPerAddress = opts.maxPendingPerAddress ?? 16;
    this.ciphers = new Set(opts.ciphers ?? Object.keys(SUITE_IDS) as CipherName[]);
    this.logger = opts.logger ?? silentLogger;
    this.failures = new LogLimiter(this.logger, 20);
  }

  /** Handshakes in progress from one address. */
  pendingFrom(address: string): number { return this.pending.get(address) ?? 0; }

  /**
   * Resolves only after key confirmation (the initiator's first transport message authenticated);
   * rejects with ChannelError (VERSION_MISMATCH, SUITE_UNSUPPORTED, HANDSHAKE_FAILED, REPLAY,
   * TIMEOUT, TOO_MANY_PENDING, GARBAGE) and destroys the socket; logs one line per failure.
   */
  accept(socket: Socket): Promise<NoiseChannel> {
    const address = socket.remoteAddress ?? 'unknown';
    const remote = `${address}:${socket.remotePort ?? 0}`;
    const count = this.pendingFrom(address);
    const onFailure = (err: HandshakeError): HandshakeError => {
      this.failures.warn({ event: 'noise.handshake_failed', code: err.code, remote }, err.message);
      return err;
    };
    // One address may hold only a few handshakes: it is refused, its older ones go on.
    if (count >= this.maxPendingPerAddress) {
      socket.on('error', () => {});
      socket.end(responderPreamble(Status.TOO_MANY_PENDING));
      socket.setTimeout(1000, () => socket.destroy());
      return Promise.reject(onFailure(new ChannelError('TOO_MANY_PENDING', `too many pending handshakes from ${address} (limit ${this.maxPendingPerAddress})`)));
    }
    // Overall, the oldest unfinished handshake gives way (as a SYN cache evicts): a real agent
    // finishes in one round trip, so stalled ones from many addresses cannot lock it out.
    if (this.pendingTotal >= this.maxPending) this.inFlight.values().next().value?.evict();
    this.pending.set(address, count + 1);
    this.pendingTotal++;
    let handshake: ResponderHandshake | undefined;
    const release = (): void => {
      if (handshake) this.inFlight.delete(handshake);
      this.pendingTotal--;
      const n = this.pendingFrom(address) - 1;
      if (n <= 0) this.pending.delete(address); else this.pending.set(address, n);
    };
    return new Promise<NoiseChannel>((resolve, reject) => {
      handshake = new ResponderHandshake(socket, this, this.opts.staticKey, this.opts,
        (ch) => {
          release();
          this.logger.debug({ event: 'noise.handshake_ok', remote, agent: encodeKey(ch.remoteStaticKey), cipher: ch.cipher }, 'agent authenticated');
          resolve(ch);
        },
        (err) => { release(); reject(onFailure(err)); });
      if (!handshake.finished) this.inFlight.add(handshake);
    });
  }
}
