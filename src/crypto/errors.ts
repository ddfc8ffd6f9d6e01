import { RelayError } from '../errors.js';

/** Every failure of the generic Noise layer and of key handling, by stable code. */
export type NoiseErrorCode =
  | 'BAD_KEY'             // a key that is not 32 bytes / 43 base64url characters
  | 'KEY_FILE'            // a key file that cannot be read, written or trusted
  | 'INVALID_PUBLIC_KEY'  // DH produced all zeros: a low-order (invalid) public key
  | 'UNSUPPORTED'         // a protocol name, pattern or function this implementation lacks
  | 'BAD_STATE'           // an operation out of order (write when it is the peer's turn, …)
  | 'BAD_MESSAGE'         // a message too short, too long or of the wrong shape
  | 'DECRYPT_FAILED'      // AEAD authentication failed
  | 'NONCE_EXHAUSTED'     // nonce 2^64−1 reached (Noise §5.1: reserved)
  | 'MESSAGE_TOO_LARGE';  // a payload above 65535 bytes on the wire

export class NoiseError extends RelayError<NoiseErrorCode> {}
