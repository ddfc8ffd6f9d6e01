import t from 'tap';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RelayProcess, runRelay, portOf } from '../helpers/proc.js';
import { tempHome } from '../helpers/net.js';

const TOKEN = 'c0ffee'.repeat(8);

function serveArgs(admin: string, extra: string[] = []): string[] {
  return ['serve', '--tls-listen', '127.0.0.1:0', '--agent-listen', '127.0.0.1:0', '--admin-listen', admin, '--no-warmup', ...extra];
}

t.test('an admin listener off loopback without a token: the relay refuses to start', async (t) => {
  const home = tempHome(t);
  const r = await runRelay(serveArgs('0.0.0.0:0'), { env: { RELAY_HOME: home } });
  t.equal(r.code, 1);
  const line = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  t.equal(line.event, 'startup.failed');
  t.match(String(line.error), /--admin-token-file/);
});

t.test('a token file others can read is refused, as a private key would be', async (t) => {
  const home = tempHome(t);
  const file = join(home, 'token');
  writeFileSync(file, TOKEN);
  chmodSync(file, 0o644);
  const r = await runRelay(serveArgs('0.0.0.0:0', ['--admin-token-file', file]), { env: { RELAY_HOME: home } });
  t.equal(r.code, 1);
  t.match(r.stdout, /too open/);
});

t.test('with a token: every path but /healthz needs it, refusals are counted', async (t) => {
  const home = tempHome(t);
  const file = join(home, 'token');
  writeFileSync(file, `${TOKEN}\n`, { mode: 0o600 });
  const relay = new RelayProcess(serveArgs('0.0.0.0:0', ['--admin-token-file', file]), { RELAY_HOME: home });
  t.teardown(() => relay.stop('SIGKILL'));
  const ready = await relay.waitEvent('relay.ready');
  const base = `http://127.0.0.1:${portOf(ready.admin)}`;
  t.equal((await fetch(`${base}/healthz`)).status, 200, '/healthz is open to a balancer\'s health check');
  const refused = await fetch(`${base}/api/tunnels`);
  t.equal(refused.status, 401);
  t.equal(refused.headers.get('www-authenticate'), 'Bearer realm="relay"');
  t.equal((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
  t.equal((await fetch(`${base}/api/tunnels`, { headers: { authorization: `Bearer ${TOKEN}x` } })).status, 401, 'a longer token is not a match');
  const ok = await fetch(`${base}/api/tunnels`, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(ok.status, 200);
  const metrics = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  t.match(metrics, /relay_admin_refused_total\{reason="unauthorized"\} 3/);
  await relay.waitEvent('admin.refused');

  // SIGHUP reads the token file again: the old token stops working, the new one works.
  const next = 'beef'.repeat(8);
  writeFileSync(file, next, { mode: 0o600 });
  relay.child.kill('SIGHUP');
  await relay.waitEvent('config.reloaded');
  t.equal((await fetch(`${base}/api/tunnels`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 401);
  t.equal((await fetch(`${base}/api/tunnels`, { headers: { authorization: `Bearer ${next}` } })).status, 200);
});

t.test('on loopback a token is optional, and enforced when given', async (t) => {
  const home = tempHome(t);
  const plain = new RelayProcess(serveArgs('127.0.0.1:0'), { RELAY_HOME: home });
  t.teardown(() => plain.stop('SIGKILL'));
  const ready = await plain.waitEvent('relay.ready');
  t.equal((await fetch(`http://${String(ready.admin)}/api/tunnels`)).status, 200);
  const file = join(home, 'token');
  writeFileSync(file, TOKEN, { mode: 0o600 });
  const guarded = new RelayProcess(serveArgs('127.0.0.1:0', ['--admin-token-file', file]), { RELAY_HOME: tempHome(t) });
  t.teardown(() => guarded.stop('SIGKILL'));
  const r2 = await guarded.waitEvent('relay.ready');
  t.equal((await fetch(`http://${String(r2.admin)}/api/tunnels`)).status, 401);
});
