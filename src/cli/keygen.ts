import type { Command } from 'commander';
import { NoiseError } from '../crypto/errors.js';
import { encodeKey, generateKeyPair, readPrivateKeyFile, writePrivateKeyFile } from '../crypto/keys.js';

/** Prints a NoiseError's message (never key material) and exits non-zero. */
function fail(err: unknown, command: string): never {
  const message = err instanceof NoiseError ? err.message : 'unexpected error';
  process.stderr.write(`relay ${command}: ${message}\n`);
  process.exit(1);
}

/**
 * `relay keygen [--out FILE]`: with --out, the private key goes to FILE (0600, never
 * overwritten) and the public key is the only line on stdout; without it, the private key line
 * goes to stdout and the public key to stderr, so `relay keygen > key` keeps only the secret.
 */
function keygen(opts: { out?: string }): void {
  try {
    if (opts.out !== undefined) {
      const kp = writePrivateKeyFile(opts.out);
      process.stdout.write(`${encodeKey(kp.publicKey)}\n`);
    } else {
      const kp = generateKeyPair();
      process.stdout.write(`${encodeKey(kp.privateKey)}\n`);
      process.stderr.write(`${encodeKey(kp.publicKey)}\n`); // bare, so `2>pub` is usable as is
    }
  } catch (err) {
    fail(err, 'keygen');
  }
}

/** `relay pubkey FILE`: prints the public key of a private key file. */
function pubkey(file: string): void {
  try {
    process.stdout.write(`${encodeKey(readPrivateKeyFile(file).publicKey)}\n`);
  } catch (err) {
    fail(err, 'pubkey');
  }
}

export function registerKeyCommands(program: Command): void {
  program.command('keygen')
    .description('generate an X25519 key pair (text form: base64url, 43 characters)')
    .option('--out <file>', 'write the private key to FILE (mode 0600, never overwrites); print the public key')
    .action((opts: { out?: string }) => keygen(opts));
  program.command('pubkey')
    .description('print the public key of a private key file')
    .argument('<file>', 'private key file (must not be readable by group or others)')
    .action((file: string) => pubkey(file));
}
