// The start-up warm-up: real bytes through the whole splice path on loopback, nothing left
// behind, logged before the process reports ready, skipped with --no-warmup.
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { warmUp } from '../../src/cli/warmup.js';
import { startAgent, startDevRelay } from '../helpers/proc.js';
import { freePort, listen } from '../helpers/net.js';

const tcpResources = (): string[] => process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP')).sort();

/** Closed handles leave the list in a later close phase of the loop: give it a few turns. */
async function settledResources(expected: string[]): Promise<string[]> {
  for (let turn = 0; turn < 20 && JSON.stringify(tcpResources()) !== JSON.stringify(expected); turn++) {
    await new Promise((r) => setImmediate(r));
  }
  return tcpResources();
}

t.test('warmUp carries the bytes both ways with each cipher and leaves no socket or listener open', async (t) => {
  const before = tcpResources();
  for (const cipher of ['chachapoly', 'aesgcm'] as const) {
    const r = await warmUp(3 * 1024 * 1024 + 17, cipher);
    t.equal(r.bytes, 3 * 1024 * 1024 + 17, `${cipher}: every byte came back`);
    t.ok(r.ms >= 0);
  }
  t.same(await settledResources(before), before, 'no TCP handle outlives the warm-up');
});

t.test('warmUp rejects, and cleans up, when the path does not finish in time', async (t) => {
  const before = tcpResources();
  await t.rejects(warmUp(64 * 1024 * 1024, 'chachapoly', 1), /not done within 1 ms/);
  t.same(await settledResources(before), before, 'no TCP handle outlives the failed warm-up');
});

t.test('relay and agent warm up before they report ready; --no-warmup skips it', async (t) => {
  const tcpPort = await freePort();
  const { relay, ready } = await startDevRelay(t, ['--tcp-ports', `${tcpPort}-${tcpPort}`]);
  const readyAt = relay.lines.indexOf(ready);
  const warm = relay.lines.filter((l) => l.event === 'warmup.done');
  t.same(warm.map((l) => l.cipher), ['chachapoly', 'aesgcm'], 'the relay warmed up both ciphers');
  t.ok(warm.every((l) => relay.lines.indexOf(l) < readyAt && Number(l.bytes) > 0), 'before relay.ready');

  const target = net.createServer((s) => s.pipe(s));
  const targetPort = await listen(target, t);
  const agent = startAgent(t, ready, ['--tcp', `127.0.0.1:${targetPort}`, '--cipher', 'aesgcm']);
  const tunnel = await agent.waitEvent('tunnel.ready');
  const agentWarm = agent.lines.filter((l) => l.event === 'warmup.done');
  t.same(agentWarm.map((l) => l.cipher), ['aesgcm'], 'the agent warmed up its own cipher');

  const c = net.connect(Number(tunnel.port), '127.0.0.1');
  c.end('through the warmed tunnel');
  const got: Buffer[] = [];
  c.on('data', (d: Buffer) => got.push(d));
  await once(c, 'end');
  t.equal(Buffer.concat(got).toString(), 'through the warmed tunnel', 'the tunnel works after the warm-up');

  const cold = await startDevRelay(t, ['--no-warmup']);
  t.notOk(cold.relay.lines.some((l) => String(l.event).startsWith('warmup')), '--no-warmup: no warm-up');
});
