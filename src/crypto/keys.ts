import { closeSync, fchmodSync, fstatSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { nodeBackend } from './backend-node.js';
import { NoiseError } from './errors.js';

/** A raw 32-byte X25519 key pair. */
export interface KeyPair { publicKey: Buffer; privateKey: Buffer }

const x25519 = nodeBackend.dh('25519');
const KEY_TEXT = /^[A-Za-z0-9_-]{43}$/;

/** A fresh X25519 key pair from the OS CSPRNG (OpenSSL). */
export function generateKeyPair(): KeyPair {
  const { privateKey, publicKey } = x25519.generateKeyPair();
  return { privateKey: Buffer.from(privateKey), publicKey: Buffer.from(publicKey) };
}

export function publicKeyFromPrivate(priv: Uint8Array): Buffer {
  if (priv.length !== 32) throw new NoiseError('BAD_KEY', 'X25519 private key must be 32 bytes');
  return Buffer.from(x25519.publicKey(priv));
}

/** Text form of a key: base64url without padding, 43 characters. */
export function encodeKey(k: Uint8Array): string {
  if (k.length !== 32) throw new NoiseError('BAD_KEY', 'an X25519 key is 32 bytes');
  return Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('base64url');
}

/** Parses the text form; anything but 43 canonical base64url characters throws NoiseError('BAD_KEY'). The input is never echoed. */
export function decodeKey(s: string): Buffer {
  if (typeof s !== 'string' || !KEY_TEXT.test(s)) throw new NoiseError('BAD_KEY', 'not a key: expected 43 base64url characters (no padding)');
  const k = Buffer.from(s, 'base64url');
  // 43 characters carry 258 bits: the last two must be zero, so that one key has one text form.
  if (k.length !== 32 || k.toString('base64url') !== s) throw new NoiseError('BAD_KEY', 'not a key: non-canonical base64url');
  return k;
}

/**
 * Writes a new private key file (one line, mode 0600). Refuses to overwrite an existing file
 * (NoiseError('KEY_FILE')). Generates the key pair unless given one; returns it.
 */
export function writePrivateKeyFile(path: string, kp: KeyPair = generateKeyPair()): KeyPair {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new NoiseError('KEY_FILE', `refusing to overwrite existing file ${path}`, { cause: err });
    throw new NoiseError('KEY_FILE', `cannot create key file ${path}: ${code ?? 'error'}`, { cause: err });
  }
  try {
    if (process.platform !== 'win32') fchmodSync(fd, 0o600); // the umask may not be 077; the mode must be
    writeSync(fd, `${encodeKey(kp.privateKey)}\n`);
  } finally {
    closeSync(fd);
  }
  return kp;
}

/**
 * Reads a private key file. Like ssh, refuses a file that group or others may read or write
 * (mode & 0o077) with a message saying how to fix it; the file's contents never appear in errors.
 */
export function readPrivateKeyFile(path: string): KeyPair {
  // `--key "$(cat agent.key)"` is an easy mistake: never put such a "path" in a message (logs).
  const looksLikeKey = KEY_TEXT.test(basename(path.trim()));
  const shown = looksLikeKey ? '(not shown: it looks like a key)' : path;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (looksLikeKey) {
      throw new NoiseError('KEY_FILE', 'the key file path looks like a key itself: give the path of a file that holds the key (relay keygen --out FILE)', { cause: err });
    }
    throw new NoiseError('KEY_FILE', `cannot open key file ${path}: ${code === 'ENOENT' ? 'no such file' : code ?? 'error'}`, { cause: err });
  }
  path = shown;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new NoiseError('KEY_FILE', `key file ${path} is not a regular file`);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw new NoiseError('KEY_FILE', `permissions ${mode} for key file ${path} are too open: a private key must not be accessible by others (run: chmod 600 ${path})`);
    }
    const buf = Buffer.alloc(256);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const text = buf.subarray(0, n).toString('utf8').trim();
    buf.fill(0);
    let privateKey: Buffer;
    try {
      privateKey = decodeKey(text);
    } catch {
      throw new NoiseError('KEY_FILE', `key file ${path} does not hold a private key (expected one line of 43 base64url characters)`);
    }
    return { privateKey, publicKey: publicKeyFromPrivate(privateKey) };
  } finally {
    closeSync(fd);
  }
}

/** For a state directory: reads the key file, or creates it (0600, its directory 0700) on first run. */
export function loadOrCreateKeyFile(path: string): KeyPair {
  try {
    return readPrivateKeyFile(path);
  } catch (err) {
    if (!(err instanceof NoiseError) || (err.cause as NodeJS.ErrnoException | undefined)?.code !== 'ENOENT') throw err;
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    return writePrivateKeyFile(path);
  } catch (err) {
    // Another process created it between our read and our create: use theirs.
    if (err instanceof NoiseError && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'EEXIST') return readPrivateKeyFile(path);
    throw err;
  }
}
