/**
 * relay's secure channel: a plaintext preamble, a Noise_IK handshake and length-prefixed transport
 * messages over one TCP socket (docs/protocol.md "Secure channel"), built on the generic Noise of src/crypto.
 */
export type { MessageChannel } from './message-channel.js';
export { NoiseChannel } from './noise-channel.js';
export { MAX_PLAINTEXT } from './transport-state.js';
export { connectChannel, type InitiatorOptions } from './initiator.js';
export { NoiseResponder, type ResponderOptions } from './responder.js';
export type { ChannelOptions } from './handshake.js';
export { ChannelError, type ChannelErrorCode, type HandshakeError } from './errors.js';
export type { CipherName } from './suite.js';
