import type { CipherName } from './suite.js';

/**
 * The plaintext preamble before the Noise handshake (docs/protocol.md "Preamble"). Its first
 * five bytes (magic, version) are fixed for every future version, so that any two versions can
 * tell each other apart and say so.
 */
export const MAGIC = Buffer.from('RLYN', 'ascii');
export const PROTOCOL_VERSION = 1;
export const PREAMBLE_LEN = 6;

/** Suite identifiers on the wire. */
export const SUITE_IDS: Record<CipherName, number> = { chachapoly: 1, aesgcm: 2 };
export const SUITE_BY_ID: ReadonlyMap<number, CipherName> = new Map([[1, 'chachapoly'], [2, 'aesgcm']]);

/** Responder status byte. */
export const Status = { OK: 0, VERSION_MISMATCH: 1, SUITE_UNSUPPORTED: 2, TOO_MANY_PENDING: 3 } as const;

export function initiatorPreamble(cipher: CipherName): Buffer {
  return Buffer.concat([MAGIC, Buffer.from([PROTOCOL_VERSION, SUITE_IDS[cipher]])]);
}

export function responderPreamble(status: number): Buffer {
  return Buffer.concat([MAGIC, Buffer.from([PROTOCOL_VERSION, status])]);
}

/**
 * Noise §6 prologue: a version label and both preambles (the responder's "OK" one is a function
 * of the initiator's, so the initiator can send message 1 before it arrives). A tampered or
 * downgraded preamble makes the handshake fail.
 */
export function prologue(initPreamble: Buffer): Buffer {
  return Buffer.concat([Buffer.from('relay noise v1\0', 'ascii'), initPreamble, responderPreamble(Status.OK)]);
}
