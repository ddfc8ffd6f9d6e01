import t from 'tap';
import net from 'node:net';
import { readdirSync } from 'node:fs';
import { rawRelay, allLive } from '../helpers/raw-relay.js';
import { RelayProcess } from '../helpers/proc.js';
import { blackHole } from '../helpers/black-hole.js';
import { listen, tempHome } from '../helpers/net.js';
import { ResetCode, type Stream } from '../../src/mux/index.js';

const fds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

/** An agent (the real CLI) with one TCP tunnel to `targetPort`, on a hand-driven relay whose register is answered. */
async function agentOn(t: { teardown: (fn: () => unknown) => void }, targetPort: number, flags: string[] = []) {
  const relay = await rawRelay(t);
  const agent = new RelayProcess(['agent', '--no-warmup', '--relay', relay.address, '--relay-key', relay.publicKey, '--tcp', `127.0.0.1:${targetPort}`, ...flags],
    { RELAY_HOME: tempHome() });
  t.teardown(() => agent.stop('SIGKILL'));
  const s = await relay.nextSession();
  s.write(allLive(s.register));
  await agent.waitEvent('tunnel.ready');
  return { agent, s };
}

/** Opens `n` streams for tunnel tcp:1; resolves with each one's reset code (undefined: not reset). */
function openMany(s: { session: { openStream(m: { tunnelId: string }): Stream } }, n: number, then?: (st: Stream) => void): Array<Promise<number | undefined>> {
  return Array.from({ length: n }, () => {
    const st = s.session.openStream({ tunnelId: 'tcp:1' });
    const closed = new Promise<number | undefined>((r) => { st.onClose = (e) => r((e as { resetCode?: number } | undefined)?.resetCode); });
    then?.(st);
    return closed;
  });
}

t.test('OPEN then RST against a target slow to accept: the agent keeps no socket', { timeout: 60_000 }, async (t) => {
  const port = await blackHole(t);
  const { agent, s } = await agentOn(t, port);
  const pid = agent.child.pid!;
  const before = fds(pid);
  // Each stream is reset at once, while the agent's dial to the target is still in SYN_SENT.
  const opened = Array.from({ length: 500 }, () => s.session.openStream({ tunnelId: 'tcp:1' }));
  await s.session.ping(); // the OPENs have reached the agent and been dialed
  for (const st of opened) st.destroy();
  await s.session.ping(); // and the RSTs have been processed
  await s.session.ping();
  const after = fds(pid);
  t.ok(after - before < 50, `agent descriptors ${before} → ${after}, not 500 more`);
});

t.test('local connections are capped: an OPEN past the cap is refused with REFUSED_TOO_MANY', { timeout: 30_000 }, async (t) => {
  const held: net.Socket[] = [];
  const target = net.createServer((c) => { held.push(c); c.on('error', () => {}); });
  const port = await listen(target, t);
  const { agent, s } = await agentOn(t, port, ['--max-local-conns', '5']);
  const first = openMany(s, 5, (st) => st.write(Buffer.from('x')));
  while (held.length < 5) await new Promise((r) => target.once('connection', r));
  const more = await Promise.all(openMany(s, 3));
  t.same(more, [ResetCode.REFUSED_TOO_MANY, ResetCode.REFUSED_TOO_MANY, ResetCode.REFUSED_TOO_MANY]);
  const refused = await agent.waitEvent('stream.refused');
  t.equal(refused.reason, 'max_local_conns');
  t.equal(held.length, 5, 'the target saw five connections, no more');
  void first;
});

t.test('dials are rate limited: a burst past the rate is refused', { timeout: 30_000 }, async (t) => {
  const target = net.createServer((c) => { c.on('error', () => {}); c.destroy(); });
  const port = await listen(target, t);
  const { agent, s } = await agentOn(t, port, ['--dial-rate', '3']);
  const codes = await Promise.all(openMany(s, 20, (st) => { st.onData = () => {}; st.onEnd = () => st.end(); }));
  const refused = codes.filter((c) => c === ResetCode.REFUSED_TOO_MANY).length;
  t.ok(refused >= 10, `${refused} of 20 refused at 3 dials per second`);
  t.equal((await agent.waitEvent('stream.refused')).reason, 'dial_rate');
});

t.test('a dial that does not connect fails at the dial deadline with CONNECT_FAILED', { timeout: 30_000 }, async (t) => {
  const port = await blackHole(t);
  const { agent, s } = await agentOn(t, port, ['--dial-timeout', '300']);
  const [code] = await Promise.all(openMany(s, 1));
  t.equal(code, ResetCode.CONNECT_FAILED);
  t.equal((await agent.waitEvent('target.unreachable')).code, 'ETIMEDOUT');
});
