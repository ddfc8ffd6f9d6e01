import type { Socket } from 'node:net';
import { HandshakeState } from '../crypto/handshake-state.js';
import type { KeyPair } from '../crypto/keys.js';
import { EMPTY, Handshake, MSG2_LEN, frameOf, type ChannelOptions, type Step } from './handshake.js';
import { ChannelError, type HandshakeError } from './errors.js';
import type { NoiseChannel } from './noise-channel.js';
import { MAGIC, PREAMBLE_LEN, PROTOCOL_VERSION, Status, initiatorPreamble, prologue } from './preamble.js';
import { PROTOCOL_NAMES, type CipherName } from './suite.js';
import { tai64n } from './tai64n.js';

/** connectChannel's options: the channel's, plus our key pair, the pinned relay key and the suite (default chachapoly). */
export type InitiatorOptions = ChannelOptions & { staticKey: KeyPair; remoteStaticKey: Uint8Array; cipher?: CipherName };

class InitiatorHandshake extends Handshake {
  private readonly hs: HandshakeState;
  private state: 'reply' | 'msg2' = 'reply';

  constructor(socket: Socket, private readonly opts: InitiatorOptions,
    resolve: (c: NoiseChannel) => void, reject: (e: HandshakeError) => void) {
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

  protected closedEarly(): ChannelError {
    return new ChannelError('HANDSHAKE_FAILED', 'relay closed the connection during the handshake (is the relay public key right, and is this key allowed?)');
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
    if (len !== MSG2_LEN) throw new ChannelError('HANDSHAKE_FAILED', `malformed handshake reply (${len} bytes)`);
    const msg2 = this.reader.readFrame();
    if (msg2 === null) return false;
    try {
      this.hs.readMessage(msg2); // <- e, ee, se
    } catch (err) {
      throw new ChannelError('HANDSHAKE_FAILED', 'relay failed to authenticate: its handshake reply did not decrypt', { cause: err });
    }
    const [send, recv] = this.hs.split();
    // Key confirmation: one empty transport message proves we hold the keys (docs/protocol.md).
    this.socket.write(frameOf(send.encryptWithAd(EMPTY, EMPTY)));
    this.succeed(send, recv, {
      remoteStaticKey: Buffer.from(this.opts.remoteStaticKey), cipher: this.opts.cipher ?? 'chachapoly',
      handshakeHash: Buffer.from(this.hs.getHandshakeHash()), initiator: true,
    });
    return false;
  };
}

/** The relay's answer to our preamble (docs/protocol.md "Preamble"): anything but OK is a refusal told in plaintext. */
function checkReply(reply: Buffer): void {
  if (!reply.subarray(0, 4).equals(MAGIC)) throw new ChannelError('GARBAGE', 'the server is not a relay (bad preamble magic)');
  const version = reply[4];
  const status = reply[5];
  if (version !== PROTOCOL_VERSION || status === Status.VERSION_MISMATCH) {
    throw new ChannelError('VERSION_MISMATCH', `relay speaks protocol version ${version}, this agent ${PROTOCOL_VERSION}`);
  }
  if (status === Status.SUITE_UNSUPPORTED) throw new ChannelError('SUITE_UNSUPPORTED', 'relay does not support the requested cipher suite');
  if (status === Status.TOO_MANY_PENDING) throw new ChannelError('TOO_MANY_PENDING', 'relay refused: too many pending handshakes from this address');
  if (status !== Status.OK) throw new ChannelError('HANDSHAKE_FAILED', `relay refused the handshake (status ${status})`);
}

/**
 * Initiator (agent): pins the relay's public key; resolves after the handshake, once it has sent
 * its key-confirmation message. Rejects with a ChannelError (or the NoiseError of a bad key) and
 * destroys the socket otherwise.
 */
export function connectChannel(socket: Socket, opts: InitiatorOptions): Promise<NoiseChannel> {
  return new Promise((resolve, reject) => {
    try {
      new InitiatorHandshake(socket, opts, resolve, reject);
    } catch (err) {
      socket.destroy();
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}
