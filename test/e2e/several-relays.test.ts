// One agent on three relays (issue 13 §1), through the real CLI on loopback: relays on 127.0.0.1,
// .2 and .3 sharing one key, the agent given `--relay` three times. The TCP tunnel gets the same
// public port on each; a relay killed with SIGKILL mid-transfer resets its own clients only; the
// others carry on and take new connections at once; the restarted relay gets the agent back,
// with the same port.
import t, { type Test } from 'tap';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { RelayProcess, runRelay, startAgent } from '../helpers/proc.js';
import type { LogLine } from '../helpers/log.js';
import { freePort, listen, tempHome } from '../helpers/net.js';

const HOSTS = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];

/** A sink that answers each connection, once it ends, with the SHA-256 of what it got. */
async function hashingSink(t: Test): Promise<number> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    const h = createHash('sha256');
    s.on('error', () => {});
    s.on('data', (d) => h.update(d));
    s.on('end', () => s.end(h.digest('hex')));
  });
  return listen(server, t);
}

function startRelay(t: Test, host: string, agentPort: number, tcpPort: number, keyPath: string, home: string): RelayProcess {
  const relay = new RelayProcess(['serve', '--key', keyPath, '--allow-any-agent', '--no-warmup', '--tls-listen', 'off', '--admin-listen', 'off',
    '--agent-listen', `${host}:${agentPort}`, '--tcp-host', host, '--tcp-ports', `${tcpPort}-${tcpPort + 4}`], { RELAY_HOME: home });
  t.teardown(() => relay.stop('SIGKILL'));
  return relay;
}

/**
 * Sends `bytes` through host:port, half-closes, resolves with the sink's hash, or the error it ended with.
 * `started` resolves once the first megabyte has been handed to the kernel.
 */
function transfer(host: string, port: number, bytes: Buffer): { socket: net.Socket; started: Promise<void>; result: Promise<string> } {
  const s = net.connect({ host, port, allowHalfOpen: true });
  const result = new Promise<string>((resolve) => {
    let got = '';
    let failed: string | undefined;
    s.on('data', (d: Buffer) => { got += d.toString(); });
    // Judged at close: a killed process's kernel may FIN a socket whose queue it had read, and
    // the upload still under way then fails; an end followed by an error is not a clean end.
    s.on('error', (e: NodeJS.ErrnoException) => { failed ??= `error:${e.code}`; });
    s.on('close', () => resolve(failed ?? got));
  });
  const cut = Math.min(bytes.length, 1024 * 1024);
  const started = new Promise<void>((resolve) => s.write(bytes.subarray(0, cut), () => resolve()));
  s.end(bytes.subarray(cut));
  return { socket: s, started, result };
}

t.test('an agent on three relays: the same port on each; losing one costs only its own connections', async (t) => {
  const home = tempHome(t);
  const keyPath = join(home, 'relay.key');
  const gen = await runRelay(['keygen', '--out', keyPath]);
  t.equal(gen.code, 0);
  const sink = await hashingSink(t);
  const agentPort = await freePort();
  const tcpPort = await freePort();
  const relays = HOSTS.map((h) => startRelay(t, h, agentPort, tcpPort, keyPath, home));
  const readies = await Promise.all(relays.map((r) => r.waitEvent('relay.ready')));
  const agent = startAgent(t, readies[0], ['--no-warmup', ...HOSTS.slice(1).flatMap((h) => ['--relay', `${h}:${agentPort}`]), '--tcp', `127.0.0.1:${sink}`]);
  const ready = await Promise.all(HOSTS.map((h) => agent.waitEvent('tunnel.ready', (l) => l.relay === `${h}:${agentPort}`)));
  const ports = ready.map((l) => l.port);
  t.equal(new Set(ports).size, 1, `one public port on every relay (${ports.join(', ')})`);
  const port = Number(ports[0]);

  // Through each relay, a transfer arrives whole.
  const small = Buffer.alloc(64 * 1024, 7);
  const want = createHash('sha256').update(small).digest('hex');
  for (const h of HOSTS) t.equal(await transfer(h, port, small).result, want, `through ${h}`);

  // Long transfers through relays 1 and 2; relay 2 dies mid-way.
  const big = Buffer.alloc(64 * 1024 * 1024, 1);
  const bigHash = createHash('sha256').update(big).digest('hex');
  const survivor = transfer(HOSTS[0], port, big);
  const victim = transfer(HOSTS[1], port, big);
  await victim.started; // bytes are on their way through relay 2
  relays[1].child.kill('SIGKILL');
  await relays[1].exited;
  t.match(await victim.result, /^error:(ECONNRESET|EPIPE)$/, 'the dead relay\'s client sees a reset, never a clean end');
  await agent.waitEvent('link.down', (l) => l.relay === `${HOSTS[1]}:${agentPort}`);
  t.equal(await transfer(HOSTS[2], port, small).result, want, 'a new connection through a survivor works at once');
  t.equal(await survivor.result, bigHash, 'the other relay\'s transfer finished intact');

  // The relay comes back (same key, same address): the agent is back on it, with the same port.
  const mark = agent.lines.length;
  const back = startRelay(t, HOSTS[1], agentPort, tcpPort, keyPath, home);
  await back.waitEvent('relay.ready');
  const again: LogLine = await agent.waitEvent('tunnel.ready', (l) => l.relay === `${HOSTS[1]}:${agentPort}`, mark);
  t.equal(again.port, port, 'the restarted relay gives the same port');
  t.equal(await transfer(HOSTS[1], port, small).result, want, 'and serves it');
});
