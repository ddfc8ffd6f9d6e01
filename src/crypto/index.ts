/**
 * The Noise Protocol Framework, revision 34 (https://noiseprotocol.org/noise.html): generic
 * CipherState, SymmetricState and HandshakeState over 25519, ChaChaPoly/AESGCM and
 * BLAKE2s/SHA256/BLAKE2b/SHA512, on `node:crypto` or `@noble/*`.
 */
export { HandshakeState, parseProtocolName, getBackend, MAX_NOISE_MESSAGE, type HandshakeOptions, type ProtocolName } from './handshake-state.js';
export { SymmetricState } from './symmetric-state.js';
export { CipherState } from './cipher-state.js';
export { PATTERNS, isOneWay, type HandshakePattern, type Token } from './patterns.js';
export { nodeBackend } from './backend-node.js';
export { nobleBackend } from './backend-noble.js';
export { sodiumBackend } from './backend-sodium.js';
export { nativeBackend } from './backend-native.js';
export type { BackendName, DhName, CipherFunctionName, HashFunctionName, CryptoBackend, CipherFunctions, HashFunctions, DhFunctions } from './backend.js';
export { NoiseError, type NoiseErrorCode } from './errors.js';
export { generateKeyPair, publicKeyFromPrivate, encodeKey, decodeKey, writePrivateKeyFile, readPrivateKeyFile, loadOrCreateKeyFile, type KeyPair } from './keys.js';
