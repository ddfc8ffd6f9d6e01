import { RelayError } from '../errors.js';
import type { NoiseError } from '../crypto/errors.js';

/**
 * Failures of the secure channel itself, by stable code. What fails in the Noise layer under it
 * reaches the channel's users as the NoiseError it is: DECRYPT_FAILED, NONCE_EXHAUSTED,
 * BAD_MESSAGE and MESSAGE_TOO_LARGE from the transport, BAD_KEY or BAD_STATE from bad options.
 */
export type ChannelErrorCode =
  | 'HANDSHAKE_FAILED'   // the peer did not authenticate, or broke off, or sent a malformed message
  | 'VERSION_MISMATCH'   // the peers speak different protocol versions (told in the preamble)
  | 'SUITE_UNSUPPORTED'  // the relay does not offer the cipher the agent asked for
  | 'REPLAY'             // a first handshake message not newer than the last confirmed one
  | 'TIMEOUT'            // the handshake did not finish within handshakeTimeoutMs
  | 'TOO_MANY_PENDING'   // too many unfinished handshakes, from one address or in all
  | 'GARBAGE'            // the peer is not a relay (agent) at all: bad preamble magic
  | 'CLOSED';            // destroyed, or the connection closed without a FIN

export class ChannelError extends RelayError<ChannelErrorCode> {}

/** What a handshake rejects with. */
export type HandshakeError = ChannelError | NoiseError;
