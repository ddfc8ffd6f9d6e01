import t from 'tap';
import { rawRelay, allLive } from '../helpers/raw-relay.js';
import { RelayProcess } from '../helpers/proc.js';
import { tempHome } from '../helpers/net.js';
import { ResetCode } from '../../src/mux/index.js';

/** An agent (the real CLI) connected to a hand-driven relay. */
async function agentOn(t: { teardown: (fn: () => unknown) => void }) {
  const relay = await rawRelay(t);
  const agent = new RelayProcess(['agent', '--no-warmup', '--relay', relay.address, '--relay-key', relay.publicKey, '--tls', 'app.hostile.test=127.0.0.1:1'],
    { RELAY_HOME: tempHome(), RELAY_LOG_LEVEL: 'debug' });
  t.teardown(() => agent.stop('SIGKILL'));
  const s = await relay.nextSession();
  return { relay, agent, s };
}

t.test('a relay that opens streams for unknown tunnels makes the agent say so a few times, then count', async (t) => {
  const { agent, s } = await agentOn(t);
  s.write(allLive(s.register));
  await agent.waitEvent('tunnel.ready');
  const resets: Array<Promise<number | undefined>> = [];
  for (let i = 0; i < 1000; i++) {
    const st = s.session.openStream({ tunnelId: i === 0 ? 'evil\u202etxt.exe' : `nope${i}` });
    resets.push(new Promise((r) => { st.onClose = (e) => r((e as { resetCode?: number } | undefined)?.resetCode); }));
  }
  const codes = await Promise.all(resets);
  t.ok(codes.every((c) => c === ResetCode.BAD_METADATA), 'each was reset with BAD_METADATA');
  s.session.destroy();
  const summary = await agent.waitEvent('log.suppressed', (l) => l.of === 'stream.unknown_tunnel');
  const lines = agent.lines.filter((l) => l.event === 'stream.unknown_tunnel');
  t.ok(lines.length <= 10, `${lines.length} lines, not 1000`);
  t.equal(lines.length + Number(summary.count), 1000, 'the rest were counted');
  t.equal(lines[0].tunnelId, 'evil?txt.exe', 'a peer-chosen id is logged as printable ASCII');
});

t.test('a second registered is a protocol error: the agent ends the session', async (t) => {
  const { agent, s } = await agentOn(t);
  s.write(allLive(s.register));
  await agent.waitEvent('tunnel.ready');
  s.write(allLive(s.register));
  const err = await agent.waitEvent('control.error');
  t.match(String(err.err), /only one registered/);
  t.ok(await s.closed, 'the session ended with an error');
  t.equal(agent.lines.filter((l) => l.event === 'tunnel.ready').length, 1, 'the second answer was not believed');
});

t.test('two results for one tunnel id in one answer: a protocol error, nothing believed', async (t) => {
  const { agent, s } = await agentOn(t);
  const one = JSON.parse(allLive(s.register)) as { tunnels: unknown[] };
  s.write(JSON.stringify({ t: 'registered', tunnels: [...one.tunnels, { id: 'app.hostile.test', ok: true, type: 'tcp', port: 1, address: 'x:1' }] }) + '\n');
  const err = await agent.waitEvent('control.error');
  t.match(String(err.err), /two results for one tunnel id/);
  t.equal(agent.lines.filter((l) => l.event === 'tunnel.ready').length, 0);
});
