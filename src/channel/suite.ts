/** The channel's cipher choice; the rest of the suite is fixed (docs/protocol.md "Suites"). */
export type CipherName = 'chachapoly' | 'aesgcm';

export const PROTOCOL_NAMES: Record<CipherName, string> = {
  chachapoly: 'Noise_IK_25519_ChaChaPoly_BLAKE2s',
  aesgcm: 'Noise_IK_25519_AESGCM_BLAKE2s',
};
