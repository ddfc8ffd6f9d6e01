// A config reload applied to live sessions: the registry's reconsider/revoke (pools, streams,
// leases, the refused map) and what the agent link tells the agent. Registry tests drive a
// TunnelRegistry with stand-in sessions; the update tests run a RelayServer in-process with a
// hand-driven agent (test/helpers/raw-agent.ts), so that the order of control lines is exact.
import t, { type Test } from 'tap';
import net from 'node:net';
import { generateKeyPair, encodeKey } from '../../src/crypto/keys.js';
import { silentLogger } from '../../src/log.js';
import { ResetCode, type Session, type Stream } from '../../src/mux/index.js';
import { CidrList, freePort } from '../../src/net/index.js';
import { MAX_TUNNELS_PER_AGENT, type TunnelResult } from '../../src/control/index.js';
import { AgentSession, type TunnelBackend } from '../../src/relay/agent-session.js';
import type { AgentGrant } from '../../src/relay/config.js';
import { EdgePolicy } from '../../src/relay/edge-policy.js';
import { TunnelRegistry } from '../../src/relay/registry.js';
import { RelayServer } from '../../src/relay/server.js';
import { rawAgent } from '../helpers/raw-agent.js';

const K1 = 'k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k';
const K2 = 'k2k2k2k2k2k2k2k2k2k2k2k2k2k2k2k2k2k2k2k2k2k';

function grant(key: string, hosts: string[], ports: Array<[number, number]> = []): AgentGrant {
  return { name: key.slice(0, 2), key, hosts, ports: ports.map(([from, to]) => ({ from, to })) };
}

function registry(t: Test, grants: AgentGrant[], onTunnelGone?: (b: TunnelBackend) => void): TunnelRegistry {
  const r = new TunnelRegistry({
    grants, allowAnyAgent: false, leaseMs: 600_000, tcpPorts: null, tcpHost: '127.0.0.1', publicHost: 'relay.test',
    tlsPort: () => 443, onTcpConnection: () => {}, onTunnelGone, logger: silentLogger,
  });
  t.teardown(() => r.close());
  return r;
}

/** An authorized session of `key`; the registry never touches the mux session itself. */
const agent = (key: string): AgentSession => new AgentSession(key, key.slice(0, 8), '127.0.0.1:40000', { streamCount: 0 } as unknown as Session, 'chachapoly', true);
const tlsReq = (host: string) => ({ id: host, type: 'tls' as const, hostname: host });
const summary = (rs: TunnelResult[]): string[] => rs.map((r) => (r.ok ? `${r.id}:ok` : `${r.id}:${r.code}`));
const poolOf = (r: TunnelRegistry, host: string): TunnelBackend[] => r.router.lookup(host)?.members ?? [];

/** A stand-in for a public connection's stream: records how it was reset. */
function fakeStream(resets: number[]): Stream {
  return { reset: (code: number) => { resets.push(code); } } as unknown as Stream;
}

t.test('reconsider revokes a tunnel no longer granted: out of its pool, its streams reset, its lease dropped', async (t) => {
  const r = registry(t, [grant(K1, ['a.example.test', 'b.example.test'])]);
  const a1 = agent(K1);
  t.same(summary(await r.register(a1, [tlsReq('a.example.test'), tlsReq('b.example.test')])), ['a.example.test:ok', 'b.example.test:ok']);
  const resets: number[] = [];
  const revoked = a1.tunnels.get('a.example.test')!;
  revoked.streams.add(fakeStream(resets));
  revoked.streams.add(fakeStream(resets));

  r.setGrants([grant(K1, ['b.example.test'])], false);
  const changes = await r.reconsider(a1);
  t.same(summary(changes), ['a.example.test:REVOKED']);
  t.match((changes[0] as { message: string }).message, /may no longer claim a\.example\.test/);
  t.same(poolOf(r, 'a.example.test'), [], 'out of its pool: no new connection goes to it');
  t.equal(poolOf(r, 'b.example.test').length, 1, 'the tunnel still granted stays');
  t.same(resets, [ResetCode.CANCEL, ResetCode.CANCEL], 'each of its public connections is reset');
  t.notOk(a1.tunnels.has('a.example.test'));
  t.ok(a1.refused.has('a.example.test'), 'kept, so that a later reload may grant it again');
  t.same(await r.reconsider(a1), [], 'nothing more changes on a second look');

  // The lease went with the grant: another key may take the name at once (first come, first
  // served under --allow-any-agent), not only after lease_ms.
  r.setGrants([], true);
  t.same(summary(await r.register(agent(K2), [tlsReq('a.example.test')])), ['a.example.test:ok'], 'another key takes the revoked name at once');
});

t.test('reconsider grants a tunnel refused earlier; a second look changes nothing', async (t) => {
  const r = registry(t, [grant(K1, ['a.example.test'])]);
  const a1 = agent(K1);
  t.same(summary(await r.register(a1, [tlsReq('a.example.test'), tlsReq('c.example.test')])), ['a.example.test:ok', 'c.example.test:NOT_AUTHORIZED']);
  t.ok(a1.refused.has('c.example.test'));
  r.setGrants([grant(K1, ['a.example.test', 'c.example.test'])], false);
  const changes = await r.reconsider(a1);
  t.same(summary(changes), ['c.example.test:ok']);
  t.same(changes[0], { id: 'c.example.test', ok: true, type: 'tls', hostname: 'c.example.test', url: 'https://c.example.test/' });
  t.equal(poolOf(r, 'c.example.test')[0], a1.tunnels.get('c.example.test'), 'live in its pool');
  t.notOk(a1.refused.has('c.example.test'));
  t.same(await r.reconsider(a1), []);
});

t.test('a key taken out of the config loses every tunnel, and gets them back when it returns', async (t) => {
  const r = registry(t, [grant(K1, ['*.example.test'])]);
  const a1 = agent(K1);
  await r.register(a1, [tlsReq('a.example.test'), tlsReq('b.example.test')]);
  r.setGrants([], false);
  const gone = await r.reconsider(a1);
  t.same(summary(gone), ['a.example.test:REVOKED', 'b.example.test:REVOKED']);
  t.match((gone[0] as { message: string }).message, /no longer in the relay config/);
  t.equal(a1.tunnels.size, 0);
  t.same(await r.reconsider(a1), [], 'an unknown key is granted nothing');
  r.setGrants([grant(K1, ['*.example.test'])], false);
  t.same(summary(await r.reconsider(a1)), ['a.example.test:ok', 'b.example.test:ok']);
});

t.test('a closed session is granted nothing by a reload', async (t) => {
  const r = registry(t, [grant(K1, [])]);
  const a1 = agent(K1);
  await r.register(a1, [tlsReq('a.example.test')]);
  a1.closed = true;
  r.setGrants([grant(K1, ['a.example.test'])], false);
  t.same(await r.reconsider(a1), []);
  t.same(poolOf(r, 'a.example.test'), []);
});

t.test('the refused map stays within MAX_TUNNELS_PER_AGENT, however many entries a register lists', async (t) => {
  const r = registry(t, [grant(K1, ['*.ok.example.test'])]);
  const a1 = agent(K1);
  // Refused but reconsiderable (NOT_AUTHORIZED), many times the cap.
  await r.register(a1, Array.from({ length: 4096 }, (_, i) => tlsReq(`n${i}.no.example.test`)));
  t.ok(a1.refused.size <= MAX_TUNNELS_PER_AGENT, `${a1.refused.size} kept`);
  // Live tunnels up to the cap, all revoked: they move to the refused map, which stays bounded.
  const a2 = agent(K1);
  await r.register(a2, Array.from({ length: MAX_TUNNELS_PER_AGENT + 50 }, (_, i) => tlsReq(`n${i}.ok.example.test`)));
  t.equal(a2.tunnels.size, MAX_TUNNELS_PER_AGENT);
  r.setGrants([], false);
  await r.reconsider(a2);
  t.equal(a2.tunnels.size, 0);
  t.ok(a2.tunnels.size + a2.refused.size <= MAX_TUNNELS_PER_AGENT, `${a2.refused.size} kept after the revocation`);
  r.unregisterAll(a2);
  t.equal(a2.refused.size, 0, 'a session that ends keeps nothing');
});

t.test("a bandwidth budget shared by two sessions of a key survives one of them leaving", async (t) => {
  // As server.ts wires them: a tunnel that leaves its pool is forgotten by the policy.
  const policy = new EdgePolicy({ allow: new CidrList([]), deny: new CidrList([]), bandwidthPerTunnel: 1000 }, []);
  const r = registry(t, [grant(K1, ['a.example.test'])], (b) => policy.forget(b));
  const s1 = agent(K1);
  const s2 = agent(K1); // a second replica (or a reconnect that overlaps the old session)
  await r.register(s1, [tlsReq('a.example.test')]);
  await r.register(s2, [tlsReq('a.example.test')]);
  const b2 = s2.tunnels.get('a.example.test')!;
  const budget = policy.throttlesOf(b2)!;
  t.ok(budget.in.spend(100_000) > 0, 'the tunnel is deep in debt: its connections are paused');
  r.unregisterAll(s1); // one session goes; s2 still serves the name
  t.equal(policy.throttlesOf(b2), budget,
    'the next connection to the tunnel spends from the same budget (a fresh one would let a key double its cap by cycling a session)');
  r.unregisterAll(s2);
  t.not(policy.throttlesOf(b2), budget, 'the last one gone: forgotten');
});

// ---- what the agent hears: update lines on the control stream ----

async function relayWith(t: Test, grants: AgentGrant[], tcpPorts: { from: number; to: number } | null = null) {
  const relay = new RelayServer({
    staticKey: generateKeyPair(), tlsListen: { host: '127.0.0.1', port: 0 }, agentListen: { host: '127.0.0.1', port: 0 }, adminListen: null,
    tcpPorts, tcpHost: '127.0.0.1', allowAnyAgent: false, grants, logger: silentLogger,
  });
  await relay.start();
  t.teardown(() => relay.close());
  return relay;
}

/** A register line with `meta` (absent: as an agent from before layout 2 writes it). */
const registerWith = (tunnels: Array<Record<string, unknown>>, meta?: number): string => `${JSON.stringify({ t: 'register', ...(meta === undefined ? {} : { meta }), tunnels })}\n`;

/** A few session round trips: whatever the relay sent before them has arrived. */
async function settle(s: Session): Promise<void> {
  for (let i = 0; i < 3; i++) await s.ping();
}

t.test('an agent that registered with meta 2 hears a reload as an update after its registered', async (t) => {
  const key = generateKeyPair();
  const pub = encodeKey(key.publicKey);
  const relay = await relayWith(t, [grant(pub, ['a.example.test'])]);
  const a = await rawAgent(relay.addresses.agent, relay.publicKey, key);
  t.teardown(() => a.session.destroy());
  a.write(registerWith([tlsReq('a.example.test'), tlsReq('b.example.test')], 2));
  const reg = await a.line(0);
  t.equal(reg.t, 'registered');
  t.same(await relay.reload({ grants: [grant(pub, ['b.example.test'])], allowAnyAgent: false }), { revoked: 1, granted: 1 });
  const up = await a.line(1);
  t.equal(up.t, 'update');
  t.same((up.tunnels as Array<{ id: string; ok: boolean; code?: string }>).map((r) => `${r.id}:${r.ok ? 'ok' : r.code}`), ['a.example.test:REVOKED', 'b.example.test:ok']);
});

t.test('an agent that registered without meta (from before updates) is never sent a line it cannot read', async (t) => {
  // Such an agent takes any second line on the control stream as a protocol error and ends its
  // session: every live connection through it would be cut by a reload that only grants it more.
  const key = generateKeyPair();
  const pub = encodeKey(key.publicKey);
  const relay = await relayWith(t, [grant(pub, ['a.example.test'])]);
  const a = await rawAgent(relay.addresses.agent, relay.publicKey, key);
  t.teardown(() => a.session.destroy());
  a.write(registerWith([tlsReq('a.example.test'), tlsReq('b.example.test')]));
  t.equal((await a.line(0)).t, 'registered');
  await relay.reload({ grants: [grant(pub, ['a.example.test', 'b.example.test'])], allowAnyAgent: false });
  await settle(a.session);
  t.same(a.lines.map((l) => l.t), ['registered'], 'nothing after registered');
});

t.test('a reload while a register is being answered: the registered answer is still the first line, and the agent learns the truth', async (t) => {
  // The TCP entry's port is bound while the answer waits; the reload lands exactly then (the
  // registry's listen call is the cue), after the TLS entry was refused and kept for reconsidering.
  const key = generateKeyPair();
  const pub = encodeKey(key.publicKey);
  const port = await freePort();
  const relay = await relayWith(t, [grant(pub, [], [[port, port]])], { from: port, to: port });
  const a = await rawAgent(relay.addresses.agent, relay.publicKey, key);
  t.teardown(() => a.session.destroy());
  const realListen = Object.getOwnPropertyDescriptor(net.Server.prototype, 'listen')!.value as net.Server['listen'];
  let reloaded: Promise<unknown> | undefined;
  t.teardown(() => { net.Server.prototype.listen = realListen; });
  net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
    if (args[0] === port && reloaded === undefined) {
      net.Server.prototype.listen = realListen;
      reloaded = relay.reload({ grants: [grant(pub, ['b.example.test'], [[port, port]])], allowAnyAgent: false });
    }
    return (realListen as (...a: unknown[]) => net.Server).apply(this, args);
  } as typeof net.Server.prototype.listen;
  a.write(registerWith([tlsReq('b.example.test'), { id: 'tcp:1', type: 'tcp', port: 0 }], 2));
  const first = await a.line(0);
  t.ok(reloaded, 'the reload landed while the register was being answered');
  await reloaded;
  await settle(a.session);
  t.equal(first.t, 'registered', 'the first line is the registered answer (an agent takes anything else as a protocol error)');
  // Replaying the lines in order gives the agent's view of each tunnel; it must match the relay's.
  const view = new Map<string, string>();
  for (const l of a.lines) for (const r of l.tunnels as Array<{ id: string; ok: boolean; code?: string }>) view.set(r.id, r.ok ? 'ok' : String(r.code));
  const status = relay.status() as { tunnels: Array<{ hostname?: string; agents: unknown[] }> };
  const live = status.tunnels.some((x) => x.hostname === 'b.example.test' && x.agents.length > 0);
  t.equal(view.get('b.example.test') === 'ok', live, `the agent's last word on b.example.test (${view.get('b.example.test')}) matches the relay (${live ? 'live' : 'not live'})`);
  t.equal(view.get('tcp:1'), 'ok');
});
