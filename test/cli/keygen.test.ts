import t from 'tap';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { x25519 } from '@noble/curves/ed25519.js';
import { runRelay } from '../helpers/proc.js';
import { tempHome } from '../helpers/net.js';

const KEY = /^[A-Za-z0-9_-]{43}$/;
const pub = (privText: string) => Buffer.from(x25519.getPublicKey(Buffer.from(privText, 'base64url'))).toString('base64url');

t.test('relay keygen --out FILE writes a 0600 key and prints only the public key', async (t) => {
  const file = join(tempHome(t), 'relay.key');
  const r = await runRelay(['keygen', '--out', file]);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n').filter(Boolean);
  t.equal(lines.length, 1, 'one line on stdout');
  t.match(lines[0], KEY);
  t.equal(statSync(file).mode & 0o777, 0o600);
  const priv = readFileSync(file, 'utf8').trim();
  t.match(priv, KEY);
  t.equal(lines[0], pub(priv), 'stdout is the public key of the file');
  t.notMatch(r.stdout + r.stderr, priv, 'the private key is not printed');

  const again = await runRelay(['keygen', '--out', file]);
  t.not(again.code, 0, 'refuses to overwrite');
  t.match(again.stderr, /refusing to overwrite/);
  t.equal(readFileSync(file, 'utf8').trim(), priv, 'the key file is unchanged');
  t.notMatch(again.stderr, priv);

  const p = await runRelay(['pubkey', file]);
  t.equal(p.code, 0, p.stderr);
  t.equal(p.stdout, `${lines[0]}\n`, 'relay pubkey prints the same public key');
});

t.test('relay keygen without --out: private key on stdout, public key on stderr', async (t) => {
  const r = await runRelay(['keygen']);
  t.equal(r.code, 0, r.stderr);
  const priv = r.stdout.trim();
  t.match(priv, KEY);
  t.equal(r.stdout.split('\n').filter(Boolean).length, 1);
  t.equal(r.stderr, `${pub(priv)}\n`, 'stderr is exactly the public key line');
});

t.test('relay pubkey refuses a group/world-readable key and never prints key material', async (t) => {
  const dir = tempHome(t);
  const file = join(dir, 'agent.key');
  const made = await runRelay(['keygen', '--out', file]);
  t.equal(made.code, 0);
  const priv = readFileSync(file, 'utf8').trim();
  chmodSync(file, 0o644);
  const r = await runRelay(['pubkey', file]);
  t.not(r.code, 0);
  t.match(r.stderr, /permissions 0644 .* too open/);
  t.equal(r.stdout, '');
  t.notMatch(r.stderr, priv);
  t.notMatch(r.stderr, made.stdout.trim(), 'not even the public key');

  const junk = join(dir, 'junk.key');
  writeFileSync(junk, 'hunter2hunter2\n', { mode: 0o600 });
  const j = await runRelay(['pubkey', junk]);
  t.not(j.code, 0);
  t.match(j.stderr, /does not hold a private key/);
  t.notMatch(j.stderr, /hunter2/);
  const missing = await runRelay(['pubkey', join(dir, 'nope.key')]);
  t.not(missing.code, 0);
  t.match(missing.stderr, /no such file/);
});

t.test('a private key given where a key file path goes is never echoed', async (t) => {
  const home = tempHome(t);
  const gen = await runRelay(['keygen'], { env: { RELAY_HOME: home } });
  const secret = gen.stdout.trim();
  for (const args of [['pubkey', secret], ['serve', '--key', secret, '--admin-listen', 'off'], ['agent', '--key', secret, '--relay', '127.0.0.1:1', '--relay-key', gen.stderr.trim(), '--tcp', '127.0.0.1:1']]) {
    const r = await runRelay(args, { env: { RELAY_HOME: home } });
    t.not(r.code, 0, `${args[0]} fails`);
    t.notOk((r.stdout + r.stderr).includes(secret), `${args[0]}: the key text is not in the output`);
    t.match(r.stdout + r.stderr, /looks like a key/, `${args[0]}: says what is wrong`);
  }
});
