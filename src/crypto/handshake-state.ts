import type { BackendName, CipherFunctionName, CryptoBackend, DhFunctions, HashFunctionName } from './backend.js';
import { nodeBackend } from './backend-node.js';
import { nobleBackend } from './backend-noble.js';
import { sodiumBackend } from './backend-sodium.js';
import { nativeBackend } from './backend-native.js';
import type { CipherState } from './cipher-state.js';
import { NoiseError } from './errors.js';
import { PATTERNS, type HandshakePattern, type Token } from './patterns.js';
import { SymmetricState } from './symmetric-state.js';

/** Noise §3: every message, handshake or transport, is at most 65535 bytes. */
export const MAX_NOISE_MESSAGE = 65535;

const CIPHERS = new Set<string>(['ChaChaPoly', 'AESGCM']);
const HASHES = new Set<string>(['BLAKE2s', 'SHA256', 'BLAKE2b', 'SHA512']);

export interface ProtocolName {
  pattern: HandshakePattern;
  dh: '25519';
  cipher: CipherFunctionName;
  hash: HashFunctionName;
}

/** Parses `Noise_<pattern>_<dh>_<cipher>_<hash>` (Noise §8); throws NoiseError('UNSUPPORTED'). */
export function parseProtocolName(name: string): ProtocolName {
  const parts = name.split('_');
  const unsupported = (what: string) => new NoiseError('UNSUPPORTED', `unsupported Noise protocol ${JSON.stringify(name)}: ${what}`);
  if (parts.length !== 5 || parts[0] !== 'Noise') throw unsupported('expected Noise_PATTERN_DH_CIPHER_HASH');
  const [, p, dh, cipher, hash] = parts;
  const pattern = PATTERNS.get(p);
  if (!pattern) throw unsupported(`pattern ${p}`);
  if (dh !== '25519') throw unsupported(`DH ${dh}`);
  if (!CIPHERS.has(cipher)) throw unsupported(`cipher ${cipher}`);
  if (!HASHES.has(hash)) throw unsupported(`hash ${hash}`);
  return { pattern, dh, cipher: cipher as CipherFunctionName, hash: hash as HashFunctionName };
}

/**
 * A backend by name; without one, the fastest installed: the native addon (OpenSSL into the
 * caller's buffer, both ciphers) when `npm install` built it, else libsodium's ChaCha20-Poly1305
 * when the optional sodium-native is there, else node:crypto. All are checked against the same
 * vectors (test/crypto).
 */
export function getBackend(name?: BackendName): CryptoBackend {
  if (name === undefined) return nativeBackend ?? sodiumBackend ?? nodeBackend;
  if (name === 'node') return nodeBackend;
  if (name === 'native') {
    if (nativeBackend === null) throw new NoiseError('UNSUPPORTED', 'crypto backend native: build/Release/aead.node was not built (or RELAY_CRYPTO_BACKEND names another)');
    return nativeBackend;
  }
  if (name === 'sodium') {
    if (sodiumBackend === null) throw new NoiseError('UNSUPPORTED', 'crypto backend sodium: sodium-native is not installed (or RELAY_CRYPTO_BACKEND=node)');
    return sodiumBackend;
  }
  if (name === 'noble') return nobleBackend;
  throw new NoiseError('UNSUPPORTED', `unknown crypto backend ${JSON.stringify(name)}`);
}

export interface HandshakeOptions {
  /** e.g. `Noise_IK_25519_ChaChaPoly_BLAKE2s`. */
  protocolName: string;
  initiator: boolean;
  /** Noise §6: data both sides must agree on, bound into the handshake hash. */
  prologue: Uint8Array;
  /** Local static private key (32 bytes); not copied: do not change it while the handshake runs. */
  s?: Uint8Array;
  /**
   * TESTS ONLY: a fixed local ephemeral private key, for the published test vectors. Never set it
   * in production: a reused ephemeral key destroys the handshake's security.
   */
  e?: Uint8Array;
  /** Remote static public key, when the pattern has it as a pre-message (e.g. IK, NK, XK). */
  rs?: Uint8Array;
  /** Remote ephemeral public key, for pre-messages with `e` (fallback patterns). */
  re?: Uint8Array;
  /** `native`, `sodium`, `node` (see getBackend; the default is the fastest installed) or `noble` (pure JS reference). */
  backend?: BackendName;
}

interface KeyPair { privateKey: Uint8Array; publicKey: Uint8Array }

/**
 * Noise §5.3 HandshakeState: runs any pattern of patterns.ts. Messages alternate; after the last
 * one `split()` gives the transport CipherStates. Any failure is final: the object refuses further
 * use, as the spec requires of an aborted handshake.
 */
export class HandshakeState {
  readonly protocolName: string;
  readonly initiator: boolean;
  private readonly pattern: HandshakePattern;
  private readonly dh: DhFunctions;
  private readonly ss: SymmetricState;
  private s: KeyPair | null;
  private e: KeyPair | null;
  private rs: Uint8Array | null;
  private re: Uint8Array | null;
  private index = 0;
  private failed = false;

  /** Initialize(handshake_pattern, initiator, prologue, s, e, rs, re). */
  constructor(opts: HandshakeOptions) {
    const proto = parseProtocolName(opts.protocolName);
    const backend = getBackend(opts.backend);
    this.protocolName = opts.protocolName;
    this.initiator = opts.initiator;
    this.pattern = proto.pattern;
    this.dh = backend.dh(proto.dh);
    this.ss = new SymmetricState(opts.protocolName, backend.cipher(proto.cipher), backend.hash(proto.hash));
    // s is used as given, not copied, so that a backend can cache its imported form across handshakes.
    this.s = opts.s ? { privateKey: opts.s, publicKey: this.dh.publicKey(opts.s) } : null;
    const e = opts.e ? Uint8Array.from(opts.e) : null;
    this.e = e ? { privateKey: e, publicKey: this.dh.publicKey(e) } : null;
    this.rs = opts.rs ? checkPublic(opts.rs) : null;
    this.re = opts.re ? checkPublic(opts.re) : null;
    this.ss.mixHash(opts.prologue);
    // Noise §7.1: pre-messages are hashed, initiator's first, each side's keys from its own view.
    for (const [tokens, theirs] of [[this.pattern.initiatorPre, !this.initiator], [this.pattern.responderPre, this.initiator]] as const) {
      for (const t of tokens) {
        if (t === 's') this.ss.mixHash(theirs ? this.need('rs', this.rs) : this.need('s', this.s).publicKey);
        else if (t === 'e') this.ss.mixHash(theirs ? this.need('re', this.re) : this.need('e', this.e).publicKey);
      }
    }
    this.checkStaticKeys();
  }

  private need<T>(what: string, v: T | null): T {
    if (v === null) throw new NoiseError('BAD_STATE', `pattern ${this.pattern.name} needs ${what} for the ${this.initiator ? 'initiator' : 'responder'}`);
    return v;
  }

  /** Fails early when a static key that a message will send or use is missing. */
  private checkStaticKeys(): void {
    const mine = this.pattern.messages.some((m, i) => (i % 2 === 0) === this.initiator && m.includes('s'));
    const usesS = this.pattern.messages.some((m) => m.some((t) => t === 'ss' || t === (this.initiator ? 'se' : 'es')));
    if (mine || usesS) this.need('s', this.s);
  }

  isHandshakeComplete(): boolean { return this.index >= this.pattern.messages.length; }

  /** True when the next message is ours to write. */
  isMyTurn(): boolean { return !this.isHandshakeComplete() && (this.index % 2 === 0) === this.initiator; }

  getHandshakeHash(): Uint8Array { return this.ss.getHandshakeHash(); }

  /** The remote static public key, once known (pre-message or received). */
  getRemoteStaticKey(): Uint8Array | null { return this.rs; }

  private guard(write: boolean): readonly Token[] {
    if (this.failed) throw new NoiseError('BAD_STATE', 'handshake already failed');
    if (this.isHandshakeComplete()) throw new NoiseError('BAD_STATE', 'handshake already complete');
    if (this.isMyTurn() !== write) throw new NoiseError('BAD_STATE', write ? 'not our turn to write' : 'not our turn to read');
    return this.pattern.messages[this.index];
  }

  /** WriteMessage(payload): returns the message to send. */
  writeMessage(payload: Uint8Array): Uint8Array {
    const tokens = this.guard(true);
    try {
      const parts: Uint8Array[] = [];
      for (const t of tokens) {
        if (t === 'e') {
          this.e ??= this.dh.generateKeyPair();
          parts.push(this.e.publicKey);
          this.ss.mixHash(this.e.publicKey);
        } else if (t === 's') {
          parts.push(this.ss.encryptAndHash(this.need('s', this.s).publicKey));
        } else {
          this.ss.mixKey(this.dhToken(t));
        }
      }
      parts.push(this.ss.encryptAndHash(payload));
      const out = concat(parts);
      if (out.length > MAX_NOISE_MESSAGE) throw new NoiseError('MESSAGE_TOO_LARGE', `handshake message of ${out.length} bytes exceeds ${MAX_NOISE_MESSAGE}`);
      this.index++;
      return out;
    } catch (err) {
      this.failed = true;
      throw err;
    }
  }

  /** ReadMessage(message): returns the payload; throws NoiseError (DECRYPT_FAILED, BAD_MESSAGE, …). */
  readMessage(message: Uint8Array): Uint8Array {
    const tokens = this.guard(false);
    try {
      if (message.length > MAX_NOISE_MESSAGE) throw new NoiseError('MESSAGE_TOO_LARGE', 'handshake message exceeds 65535 bytes');
      let off = 0;
      const take = (n: number): Uint8Array => {
        if (off + n > message.length) throw new NoiseError('BAD_MESSAGE', 'handshake message too short');
        const b = message.subarray(off, off + n);
        off += n;
        return b;
      };
      for (const t of tokens) {
        if (t === 'e') {
          this.re = Uint8Array.from(take(this.dh.dhLen));
          this.ss.mixHash(this.re);
        } else if (t === 's') {
          const len = this.dh.dhLen + (this.ss.cipherState.hasKey() ? 16 : 0);
          this.rs = Uint8Array.from(this.ss.decryptAndHash(take(len)));
        } else {
          this.ss.mixKey(this.dhToken(t));
        }
      }
      const payload = this.ss.decryptAndHash(message.subarray(off));
      this.index++;
      return payload;
    } catch (err) {
      this.failed = true;
      throw err;
    }
  }

  /** Noise §5.3: ee, es, se, ss, each from this side's view. */
  private dhToken(t: Token): Uint8Array {
    // The first letter is the initiator's key, the second the responder's.
    const mine = this.initiator ? t[0] : t[1];
    const theirs = this.initiator ? t[1] : t[0];
    const priv = mine === 'e' ? this.need('e', this.e).privateKey : this.need('s', this.s).privateKey;
    const pub = theirs === 'e' ? this.need('re', this.re) : this.need('rs', this.rs);
    return this.dh.dh(priv, pub);
  }

  /** Split(): [initiator→responder, responder→initiator]. */
  split(): [CipherState, CipherState] {
    if (this.failed) throw new NoiseError('BAD_STATE', 'handshake already failed');
    if (!this.isHandshakeComplete()) throw new NoiseError('BAD_STATE', 'handshake not complete');
    return this.ss.split();
  }
}

function checkPublic(k: Uint8Array): Uint8Array {
  if (k.length !== 32) throw new NoiseError('BAD_KEY', 'X25519 public key must be 32 bytes');
  return Uint8Array.from(k);
}

function concat(parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
}
