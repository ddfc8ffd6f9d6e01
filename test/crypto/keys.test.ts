import t from 'tap';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { x25519 } from '@noble/curves/ed25519.js';
import {
  NoiseError, decodeKey, encodeKey, generateKeyPair, loadOrCreateKeyFile, publicKeyFromPrivate, readPrivateKeyFile, writePrivateKeyFile,
} from '../../src/crypto/index.js';
import { tempHome } from '../helpers/net.js';

const errorOf = (fn: () => unknown): NoiseError => {
  try { fn(); } catch (err) { if (err instanceof NoiseError) return err; throw err; }
  throw new Error('did not throw');
};

t.test('key text form: base64url, 43 characters, one text per key', async (t) => {
  const kp = generateKeyPair();
  const text = encodeKey(kp.publicKey);
  t.match(text, /^[A-Za-z0-9_-]{43}$/);
  t.same(decodeKey(text), kp.publicKey);
  t.same(publicKeyFromPrivate(kp.privateKey), Buffer.from(x25519.getPublicKey(kp.privateKey)), 'public key agrees with @noble/curves');
  const secret = encodeKey(kp.privateKey);
  for (const bad of [text + '=', text.slice(1), text.replace(/^./, '+'), text.replace(/^./, '/'), ` ${text}`, '', 'A'.repeat(42) + 'B']) {
    const err = errorOf(() => decodeKey(bad));
    t.equal(err.code, 'BAD_KEY', JSON.stringify(bad));
  }
  // The 43rd character carries 4 key bits and 2 spare bits; setting a spare bit spells the same
  // key a second way, which is refused.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(secret[42]);
  t.equal(last & 3, 0, 'our own encoding is canonical');
  const err = errorOf(() => decodeKey(secret.slice(0, 42) + alphabet[last | 1]));
  t.equal(err.code, 'BAD_KEY');
  t.notMatch(err.message, secret.slice(0, 20), 'the input never appears in the error');
  t.equal(errorOf(() => encodeKey(Buffer.alloc(31))).code, 'BAD_KEY');
});

t.test('private key files: 0600, never overwritten, refused when others may read them', async (t) => {
  const dir = tempHome(t);
  const file = join(dir, 'agent.key');
  const old = process.umask(0o000); // the mode must not depend on the umask
  let kp;
  try { kp = writePrivateKeyFile(file); } finally { process.umask(old); }
  t.equal(statSync(file).mode & 0o777, 0o600, 'mode 0600');
  const text = readFileSync(file, 'utf8');
  t.equal(text, `${encodeKey(kp.privateKey)}\n`, 'one line');
  t.same(readPrivateKeyFile(file), kp, 'reads back');

  const overwrite = errorOf(() => writePrivateKeyFile(file));
  t.equal(overwrite.code, 'KEY_FILE');
  t.match(overwrite.message, /refusing to overwrite/);
  t.equal(readFileSync(file, 'utf8'), text, 'the existing key is untouched');

  for (const mode of [0o644, 0o640, 0o604, 0o620]) {
    chmodSync(file, mode);
    const err = errorOf(() => readPrivateKeyFile(file));
    t.equal(err.code, 'KEY_FILE', mode.toString(8));
    t.match(err.message, /too open.*chmod 600/);
    t.notMatch(err.message, text.trim(), 'no key material in the message');
  }
  chmodSync(file, 0o400);
  t.same(readPrivateKeyFile(file).publicKey, kp.publicKey, '0400 is fine');

  const junk = join(dir, 'junk.key');
  writeFileSync(junk, 'this-is-not-a-key-but-might-be-secret\n', { mode: 0o600 });
  const err = errorOf(() => readPrivateKeyFile(junk));
  t.equal(err.code, 'KEY_FILE');
  t.notMatch(err.message, /might-be-secret/, 'file contents never echoed');
  t.equal(errorOf(() => readPrivateKeyFile(join(dir, 'missing.key'))).code, 'KEY_FILE');
  t.equal(errorOf(() => readPrivateKeyFile(dir)).code, 'KEY_FILE', 'a directory is refused');
});

t.test('loadOrCreateKeyFile creates the state directory (0700) and key (0600) once', async (t) => {
  const dir = tempHome(t);
  const file = join(dir, 'state', 'nested', 'relay.key');
  const first = loadOrCreateKeyFile(file);
  t.equal(statSync(file).mode & 0o777, 0o600);
  t.equal(statSync(join(dir, 'state', 'nested')).mode & 0o777, 0o700);
  const second = loadOrCreateKeyFile(file);
  t.same(second, first, 'the same key on the next run');
  chmodSync(file, 0o644);
  t.equal(errorOf(() => loadOrCreateKeyFile(file)).code, 'KEY_FILE', 'an unsafe existing file is refused, not replaced');
});
