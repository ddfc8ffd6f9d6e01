// `relay serve --workers 2` (issue 13 §2), through the real CLI: both workers carry one agent's
// tunnel (their connections counted in the primary's one view, their CPU read from /proc), a
// reload reaches every worker, a worker killed with SIGKILL is replaced and the agent comes back
// on it, and SIGTERM drains them all.
import t from 'tap';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { startDevRelay, startAgent } from '../helpers/proc.js';
import { freePort, listen } from '../helpers/net.js';

interface Status { agents: number; tunnels: Array<{ port?: number; connections: number; agents: Array<{ worker: number }> }>; workers: Array<{ worker: number; pid: number; agents: number; connections: number }> }

async function status(admin: unknown): Promise<Status> {
  return await (await fetch(`http://${String(admin)}/api/tunnels`)).json() as Status;
}

/** utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15). */
function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** An echo that sends back a SHA-256 of what it got once the client half-closes. */
async function hashEcho(t: { teardown(fn: () => unknown): void }): Promise<number> {
  const s = net.createServer({ allowHalfOpen: true }, (c) => {
    const h = createHash('sha256');
    c.on('error', () => {});
    c.on('data', (d) => h.update(d));
    c.on('end', () => c.end(h.digest('hex')));
  });
  return listen(s, t);
}

t.test('two workers: one agent\'s tunnel carried by both, one view, reload, a dead worker replaced, drain', async (t) => {
  const tcpPort = await freePort();
  const { relay, ready } = await startDevRelay(t, ['--workers', '2', '--no-warmup', '--tcp-ports', `${tcpPort}-${tcpPort + 4}`]);
  t.equal(ready.workers, 2);
  const agent = startAgent(t, ready, ['--no-warmup', '--tcp', `127.0.0.1:${await hashEcho(t)}`]);
  const onWorker = await Promise.all([1, 2].map((w) => agent.waitEvent('tunnel.ready', (l) => l.worker === w)));
  t.same(onWorker.map((l) => l.port), [tcpPort, tcpPort], 'the same port on both workers');

  // Eight connections held open at once: the primary hands them to the workers in turn.
  const pids = (await status(ready.admin)).workers.map((w) => w.pid);
  const before = pids.map(cpuTicks);
  const conns = Array.from({ length: 8 }, () => net.connect({ port: tcpPort, host: '127.0.0.1', allowHalfOpen: true }));
  const payloads = conns.map(() => randomBytes(8 * 1024 * 1024));
  const results = conns.map((c) => new Promise<string>((resolve) => {
    let got = '';
    c.on('data', (d: Buffer) => { got += d.toString(); });
    c.on('end', () => resolve(got));
    c.on('error', (e: NodeJS.ErrnoException) => resolve(`error:${e.code}`));
  }));
  conns.forEach((c, i) => c.write(payloads[i].subarray(0, 1024)));
  let s = await status(ready.admin);
  while (s.workers.reduce((n, w) => n + w.connections, 0) < 8) s = await status(ready.admin); // until all eight are spliced
  t.ok(s.workers.every((w) => w.connections > 0), `both workers hold connections (${s.workers.map((w) => w.connections).join(' + ')})`);
  t.equal(s.tunnels[0].connections, 8, 'one tunnel, its connections summed over the workers');
  t.same(s.tunnels[0].agents.map((a) => a.worker).sort(), [1, 2], 'the agent has a session on each worker');
  conns.forEach((c, i) => c.end(payloads[i].subarray(1024)));
  const hashes = await Promise.all(results);
  t.same(hashes, payloads.map((p) => createHash('sha256').update(p).digest('hex')), 'every byte arrived, through either worker');
  const spent = pids.map((pid, i) => cpuTicks(pid) - before[i]);
  t.comment(`CPU ticks during 64 MB through 8 connections: worker 1 ${spent[0]}, worker 2 ${spent[1]}`);
  const metrics = await (await fetch(`http://${String(ready.admin)}/metrics`)).text();
  t.match(metrics, /relay_public_connections_total\{type="tcp"\} 8\n/, 'metrics: one view, summed over the workers');
  t.match(metrics, /relay_workers 2\n/);

  // SIGHUP to the primary reloads every worker.
  relay.child.kill('SIGHUP');
  const reloaded = await Promise.all([1, 2].map((w) => relay.waitEvent('config.reloaded', (l) => l.worker === w)));
  t.equal(reloaded.length, 2);

  // A worker killed: replaced; the agent's session to it comes back; the tunnel works throughout.
  const mark = agent.lines.length;
  process.kill(pids[0], 'SIGKILL');
  await relay.waitEvent('worker.exited', (l) => l.worker === 1);
  await relay.waitEvent('worker.ready', (l) => l.worker === 1 && l.pid !== pids[0]);
  await agent.waitEvent('tunnel.ready', (l) => l.worker === 1, mark);
  const echo = await new Promise<string>((resolve) => {
    const c = net.connect({ port: tcpPort, host: '127.0.0.1', allowHalfOpen: true });
    c.on('data', (d: Buffer) => resolve(d.toString()));
    c.on('error', (e: NodeJS.ErrnoException) => resolve(`error:${e.code}`));
    c.end('x');
  });
  t.equal(echo, createHash('sha256').update('x').digest('hex'));

  // SIGTERM: every worker drains, the primary exits 0.
  relay.child.kill('SIGTERM');
  await relay.waitEvent('relay.stopped');
  const exit = await relay.exited;
  t.equal(exit.code, 0);
  for (const pid of (s.workers.map((w) => w.pid))) t.throws(() => process.kill(pid, 0), 'worker gone');
});
