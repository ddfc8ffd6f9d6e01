import t from 'tap';
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runRelay } from '../helpers/proc.js';
import { tempHome } from '../helpers/net.js';

// Needs OpenSSH's sshd and ssh (CI installs them: .ci/run); a machine without them fails here
// rather than skipping.

interface Row { figure: string; unit: string; tunnel: number; direct: number | null; columns: Record<string, number | null> }

const SSH = ['ssh-chacha20-poly1305', 'ssh-aes128-gcm'];
const MISSING = 'relay bench --vs ssh: needs OpenSSH\'s sshd and ssh (Debian: apt-get install -y openssh-server openssh-client)';

t.test('relay bench --vs ssh: ssh -R columns beside tunnel and direct, TCP figures only', async (t) => {
  // Its own TMPDIR, so that what the run leaves behind there can be seen.
  const tmp = tempHome(t);
  const r = await runRelay(['bench', '--vs', 'ssh', '--scenario', 'latency,connrate', '--duration', '1', '--json'], { env: { TMPDIR: tmp } });
  t.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { columns: string[]; rows: Row[] };
  t.same(out.columns, ['tunnel', 'direct', ...SSH], 'the columns, in order');
  const figures = out.rows.map((row) => row.figure);
  for (const f of ['RTT tcp 1 B p50', 'RTT tcp 1 B p99', 'RTT tcp 16 KiB p50', 'RTT tcp 16 KiB p99', 'new conns tcp', 'RTT sni 1 B p50', 'new conns sni']) {
    t.ok(figures.includes(f), f);
  }
  for (const row of out.rows) {
    t.type(row.tunnel, 'number', `${row.figure}: tunnel`);
    t.type(row.direct, 'number', `${row.figure}: direct`);
    t.same(Object.keys(row.columns), out.columns, `${row.figure}: every column`);
    t.equal(row.columns.tunnel, row.tunnel, `${row.figure}: columns.tunnel is tunnel`);
    t.equal(row.columns.direct, row.direct, `${row.figure}: columns.direct is direct`);
    for (const c of SSH) {
      if (row.figure.includes(' tcp')) t.ok(typeof row.columns[c] === 'number' && Number.isFinite(row.columns[c]), `${row.figure}: ${c} measured`);
      else t.equal(row.columns[c], null, `${row.figure}: no ${c} on the SNI route`);
    }
  }
  t.same(readdirSync(tmp), [], 'the temporary directories are removed');
});

t.test('relay bench --vs ssh without OpenSSH on PATH: exit 2 and what to install, before measuring', async (t) => {
  const dir = tempHome(t);
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  const none = await runRelay(['bench', '--vs', 'ssh', '--duration', '1'], { env: { PATH: bin } });
  t.equal(none.code, 2, none.stderr);
  t.equal(none.stderr, `${MISSING}\n`);
  t.equal(none.stdout, '', 'no table');

  // ssh and ssh-keygen there, sshd neither on PATH nor in the sbin beside that bin.
  for (const p of ['ssh', 'ssh-keygen']) symlinkSync(`/usr/bin/${p}`, join(bin, p));
  const noSshd = await runRelay(['bench', '--vs', 'ssh', '--duration', '1'], { env: { PATH: bin } });
  t.equal(noSshd.code, 2, noSshd.stderr);
  t.equal(noSshd.stderr, `${MISSING}\n`);
});

t.test('relay bench --vs ssh when sshd does not start: exit 1 with the first lines of its stderr', async (t) => {
  const tmp = tempHome(t);
  const bin = join(tempHome(t), 'bin');
  mkdirSync(bin);
  for (const p of ['ssh', 'ssh-keygen']) symlinkSync(`/usr/bin/${p}`, join(bin, p));
  // A stand-in sshd found on PATH, failing as a bad configuration would.
  writeFileSync(join(bin, 'sshd'), '#!/bin/sh\necho "fake-sshd: Bad configuration option: Frobnicate" >&2\necho "fake-sshd: terminating, 1 bad configuration options" >&2\nexit 255\n', { mode: 0o755 });
  const r = await runRelay(['bench', '--vs', 'ssh', '--scenario', 'latency', '--duration', '1'], { env: { PATH: bin, TMPDIR: tmp } });
  t.equal(r.code, 1, r.stderr);
  t.match(r.stderr, /^relay bench: sshd \(.*\/bin\/sshd\) did not start: exited \(255\): fake-sshd: Bad configuration option: Frobnicate; fake-sshd: terminating/);
  t.equal(r.stdout, '', 'nothing measured');
  t.same(readdirSync(tmp), [], 'the temporary directories are removed');
});

t.test('relay bench --vs: an unknown baseline, or ssh with --relay, is a usage error', async (t) => {
  const unknown = await runRelay(['bench', '--vs', 'ssh,wireguard']);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /unknown --vs baseline "wireguard" \(known: ssh\)/);
  const remote = await runRelay(['bench', '--vs', 'ssh', '--relay', '127.0.0.1:9', '--tcp-port', '9']);
  t.equal(remote.code, 2);
  t.match(remote.stderr, /--vs ssh .* cannot measure a relay elsewhere \(--relay\)/);
});
