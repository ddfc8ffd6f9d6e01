// EdgePolicy (src/relay/edge-policy.ts): who may connect to which tunnel, and how fast, from the
// relay's config and the agent's own narrowing. Rates here use real time (EdgePolicy builds its
// tables on performance.now), so every rate below refills in minutes: nothing comes back while
// a test runs, however slow the machine.
import t from 'tap';
import type { Session } from '../../src/mux/index.js';
import { CidrList } from '../../src/net/index.js';
import type { TunnelRequest } from '../../src/control/index.js';
import { AgentSession, TunnelBackend } from '../../src/relay/agent-session.js';
import type { AgentGrant, EdgeLimits } from '../../src/relay/config.js';
import { EdgePolicy } from '../../src/relay/edge-policy.js';

const K1 = 'k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k';
const K2 = 'k2k2k2k2k2k2k2k2k2k2k2k2k2k2k2k2k2k2k2k2k2k';
const K3 = 'k3k3k3k3k3k3k3k3k3k3k3k3k3k3k3k3k3k3k3k3k3k';
/** One token, then none for 1000 s. */
const SLOW = 0.001;

function limits(l: { allow?: string[]; deny?: string[]; connRatePerIp?: number; connRatePerTunnel?: number; bandwidthPerTunnel?: number } = {}): EdgeLimits {
  return { allow: CidrList.parse(l.allow ?? []), deny: CidrList.parse(l.deny ?? []), connRatePerIp: l.connRatePerIp, connRatePerTunnel: l.connRatePerTunnel, bandwidthPerTunnel: l.bandwidthPerTunnel };
}
function grant(key: string, l: Parameters<typeof limits>[0] = {}): AgentGrant {
  return { name: key.slice(0, 2), key, hosts: ['*.example.test'], ports: [], ...limits(l) };
}
/** An authorized agent session; the policy never touches the mux session, so a stand-in does. */
function agent(key: string): AgentSession {
  return new AgentSession(key, key.slice(0, 8), '127.0.0.1:40000', { streamCount: 0 } as unknown as Session, 'chachapoly', true);
}
/** A TLS tunnel of `a` for `host`, with the agent's own allow/deny. */
function tls(a: AgentSession, host: string, own: { allow?: string[]; deny?: string[] } = {}): TunnelBackend {
  const req: TunnelRequest = { id: `tls:${host}`, type: 'tls', hostname: host, ...own };
  return new TunnelBackend(a, req, { type: 'tls', hostname: host });
}
function tcp(a: AgentSession, port: number): TunnelBackend {
  return new TunnelBackend(a, { id: `tcp:${port}`, type: 'tcp', port }, { type: 'tcp', port });
}

t.test('relay-wide allow and deny: admitsSource', async (t) => {
  const open = new EdgePolicy(limits(), []);
  for (const ip of ['203.0.113.1', '::1', '::ffff:10.0.0.1']) t.ok(open.admitsSource(ip), `no lists: ${ip} admitted`);

  const deny = new EdgePolicy(limits({ deny: ['198.51.100.0/24', '2001:db8:bad::/48'] }), []);
  t.notOk(deny.admitsSource('198.51.100.7'));
  t.notOk(deny.admitsSource('::ffff:198.51.100.7'), 'the IPv4-mapped form of a denied address is denied');
  t.notOk(deny.admitsSource('2001:db8:bad:1::1'));
  t.ok(deny.admitsSource('198.51.101.7'));
  t.ok(deny.admitsSource('2001:db8:bad0::1'));

  const allow = new EdgePolicy(limits({ allow: ['203.0.113.0/24', '2001:db8::/32'], deny: ['203.0.113.128/25'] }), []);
  t.ok(allow.admitsSource('203.0.113.9'));
  t.ok(allow.admitsSource('::ffff:203.0.113.9'), 'mapped form of an allowed address');
  t.ok(allow.admitsSource('2001:db8::5'));
  t.notOk(allow.admitsSource('192.0.2.1'), 'outside every allow block');
  t.notOk(allow.admitsSource('2001:db9::5'));
  t.notOk(allow.admitsSource('203.0.113.200'), 'deny wins over allow');
  t.notOk(allow.admitsSource(''), 'no address: not in the allow list');
});

t.test("admitsTo: the key's grant, then the agent's own lists, which only narrow", async (t) => {
  const policy = new EdgePolicy(limits(), [grant(K1, { allow: ['10.0.0.0/8'], deny: ['10.9.0.0/16'] })]);
  const a = agent(K1);
  const plain = tls(a, 'a.example.test');
  t.ok(policy.admitsTo(plain, '10.1.1.1'), "in the grant's allow");
  t.notOk(policy.admitsTo(plain, '10.9.1.1'), "in the grant's deny");
  t.notOk(policy.admitsTo(plain, '::ffff:10.9.1.1'), "in the grant's deny, IPv4-mapped");
  t.notOk(policy.admitsTo(plain, '192.168.1.1'), "outside the grant's allow");

  const narrow = tls(a, 'b.example.test', { allow: ['10.1.0.0/16'], deny: ['10.1.2.0/24'] });
  t.ok(policy.admitsTo(narrow, '10.1.1.1'), "in both allows, in no deny");
  t.notOk(policy.admitsTo(narrow, '10.2.1.1'), "in the grant's allow, outside the agent's: narrowed");
  t.notOk(policy.admitsTo(narrow, '10.1.2.3'), "in the agent's deny");

  const widen = tls(a, 'c.example.test', { allow: ['192.168.0.0/16', '10.9.0.0/16'] });
  t.notOk(policy.admitsTo(widen, '192.168.1.1'), "the agent's allow cannot add what the grant's allow leaves out");
  t.notOk(policy.admitsTo(widen, '10.9.1.1'), "the agent's allow cannot lift the grant's deny");
  t.notOk(policy.admitsTo(widen, '10.1.1.1'), "and the agent's allow still narrows");

  // Another key without a grant of its own: only its agent's lists apply at this step.
  const other = tls(agent(K2), 'a.example.test', { deny: ['10.1.0.0/16'] });
  t.ok(policy.admitsTo(other, '192.168.1.1'), "K1's grant does not apply to K2");
  t.notOk(policy.admitsTo(other, '10.1.1.1'), "K2's agent denies");
  t.ok(policy.admitsTo(tls(agent(K2), 'a.example.test'), '10.9.1.1'), 'no lists at all: admitted');
});

t.test('an address the relay denies stays denied, whatever the agent allows', async (t) => {
  // The front door asks admitsSource at accept and admitsTo after routing; a connection needs both.
  const policy = new EdgePolicy(limits({ deny: ['10.5.0.0/16'] }), [grant(K1, { deny: ['10.6.0.0/16'] })]);
  const b = tls(agent(K1), 'a.example.test', { allow: ['10.5.0.0/16', '10.6.0.0/16', '10.7.0.0/16'] });
  const admitted = (ip: string): boolean => policy.admitsSource(ip) && policy.admitsTo(b, ip);
  t.notOk(admitted('10.5.1.1'), 'relay-wide deny');
  t.notOk(admitted('10.6.1.1'), "the key's deny");
  t.ok(admitted('10.7.1.1'), 'allowed by the agent and denied by nobody');
  t.notOk(admitted('10.8.1.1'), "outside the agent's allow");
});

t.test('relay-wide rate per address: takeIpToken, keyed as addressKey keys', async (t) => {
  const none = new EdgePolicy(limits(), []);
  let all = true;
  for (let i = 0; i < 200; i++) all &&= none.takeIpToken('192.0.2.1');
  t.ok(all, 'no rate: never refused');

  const p = new EdgePolicy(limits({ connRatePerIp: SLOW }), []);
  t.ok(p.takeIpToken('192.0.2.1'), 'the first connection');
  t.notOk(p.takeIpToken('192.0.2.1'), 'over the rate');
  t.notOk(p.takeIpToken('::ffff:192.0.2.1'), 'the same address written IPv4-mapped counts as the same');
  t.ok(p.takeIpToken('192.0.2.2'), 'another address has its own');
  t.ok(p.takeIpToken('2001:db8:1:2::1'));
  t.notOk(p.takeIpToken('2001:db8:1:2::ffff'), 'another address in the same /64 counts as the same');
  t.ok(p.takeIpToken('2001:db8:1:3::1'), 'the next /64 does not');
});

t.test('per-tunnel rate: the relay default, per key and resource; hasTokens spends nothing', async (t) => {
  const p = new EdgePolicy(limits({ connRatePerTunnel: SLOW }), []);
  const a1 = agent(K1);
  const b = tls(a1, 'a.example.test');
  for (let i = 0; i < 5; i++) t.ok(p.hasTokens(b, '192.0.2.1'), 'hasTokens only looks');
  p.takeTokens(b, '192.0.2.1');
  t.notOk(p.hasTokens(b, '192.0.2.1'), 'the tunnel spent its token');
  t.notOk(p.hasTokens(b, '192.0.2.99'), 'for every address: it is the tunnel that is over');
  t.notOk(p.hasTokens(tls(agent(K1), 'a.example.test'), '192.0.2.1'), "another session of the key serving the same name shares the tunnel's rate");
  t.ok(p.hasTokens(tls(a1, 'b.example.test'), '192.0.2.1'), 'another name of the same key is another tunnel');
  t.ok(p.hasTokens(tls(agent(K2), 'a.example.test'), '192.0.2.1'), 'the same name under another key is another tunnel');
  const port = tcp(a1, 20001);
  t.ok(p.hasTokens(port, '192.0.2.1'));
  p.takeTokens(port, '192.0.2.1');
  t.notOk(p.hasTokens(port, '192.0.2.1'), 'TCP tunnels too');
});

t.test("per-key per-address rate from the grant, across the key's tunnels; other keys untouched", async (t) => {
  const p = new EdgePolicy(limits(), [grant(K1, { connRatePerIp: SLOW })]);
  const a = agent(K1);
  const web = tls(a, 'a.example.test');
  const ssh = tcp(a, 20022);
  t.ok(p.hasTokens(web, '192.0.2.1'));
  p.takeTokens(web, '192.0.2.1');
  t.notOk(p.hasTokens(web, '192.0.2.1'), 'this address is over for this key');
  t.notOk(p.hasTokens(ssh, '192.0.2.1'), "on every tunnel of the key");
  t.notOk(p.hasTokens(web, '::ffff:192.0.2.1'), 'in any spelling');
  t.ok(p.hasTokens(web, '192.0.2.2'), 'another address is not');
  t.ok(p.hasTokens(tls(agent(K2), 'a.example.test'), '192.0.2.1'), 'another key is not limited by it');
  p.takeTokens(ssh, '192.0.2.2');
  t.notOk(p.hasTokens(web, '192.0.2.2'), 'spent through another tunnel of the key: over on this one too');
});

t.test("a grant's own rates replace the relay defaults for its key; absent, the defaults apply", async (t) => {
  const p = new EdgePolicy(limits({ connRatePerTunnel: SLOW }), [grant(K1, { connRatePerTunnel: 1000 }), grant(K2)]);
  const fast = tls(agent(K1), 'a.example.test');
  const dflt = tls(agent(K2), 'a.example.test');
  const none = tls(agent(K3), 'a.example.test');
  for (let i = 0; i < 5; i++) p.takeTokens(fast, `192.0.2.${i}`);
  t.ok(p.hasTokens(fast, '192.0.2.1'), "K1's grant allows 1000/s (burst 1000)");
  p.takeTokens(dflt, '192.0.2.1');
  t.notOk(p.hasTokens(dflt, '192.0.2.1'), 'K2 has a grant without a rate: the relay default');
  p.takeTokens(none, '192.0.2.1');
  t.notOk(p.hasTokens(none, '192.0.2.1'), 'K3 has no grant: the relay default');
});

t.test('throttlesOf: one budget per key and resource, shared by its backends; none without a cap', async (t) => {
  t.equal(new EdgePolicy(limits(), [grant(K1)]).throttlesOf(tls(agent(K1), 'a.example.test')), undefined, 'no bandwidth anywhere: no throttle');
  t.equal(new EdgePolicy(limits({ bandwidthPerTunnel: 0 }), []).throttlesOf(tls(agent(K1), 'a.example.test')), undefined, '0: no cap');

  const p = new EdgePolicy(limits({ bandwidthPerTunnel: 1000 }), [grant(K2, { bandwidthPerTunnel: 500 }), grant(K3, { bandwidthPerTunnel: 0 })]);
  const a1 = agent(K1);
  const b1 = tls(a1, 'a.example.test');
  const b2 = tls(agent(K1), 'a.example.test'); // a second session of the same key, same name
  const t1 = p.throttlesOf(b1)!;
  t.ok(t1, 'the relay default caps K1');
  t.equal(p.throttlesOf(b1), t1, 'asked again: the same budget');
  t.equal(p.throttlesOf(b2), t1, 'shared by every backend of the key and resource');
  t.not(p.throttlesOf(tls(a1, 'b.example.test')), t1, 'another resource: its own budget');
  t.not(p.throttlesOf(tls(agent(K2), 'a.example.test')), t1, 'another key: its own budget');
  t.equal(p.throttlesOf(tls(agent(K3), 'a.example.test')), undefined, "a grant's 0 means no cap for that key");
  t.not(t1.in, t1.out, 'each direction has its own budget');

  // The budget is the configured one: the relay's 1000 B/s for K1, the grant's 500 B/s for K2.
  t.equal(t1.in.spend(1000), 0);
  t.ok(t1.in.spend(500) > 0, 'K1: past 1000 bytes, wait'); // 500: only a 500 ms stall between the two lines could refill it
  t.equal(t1.out.spend(1000), 0, "the out budget is untouched by the in direction's spending");
  const k2 = p.throttlesOf(tls(agent(K2), 'a.example.test'))!;
  t.equal(k2.in.spend(500), 0);
  t.ok(k2.in.spend(250) > 0, "K2: its grant's 500 B/s");
});

t.test('forget: a tunnel that left takes its budget with it; a returning one starts full', async (t) => {
  const p = new EdgePolicy(limits({ bandwidthPerTunnel: 1000 }), []);
  const a = agent(K1);
  const b = tls(a, 'a.example.test');
  const before = p.throttlesOf(b)!;
  t.ok(before.in.spend(5000) > 0, 'in debt');
  p.forget(b);
  const after = p.throttlesOf(b)!;
  t.not(after, before, 'a new budget');
  t.equal(after.in.spend(1000), 0, 'full');
  const other = tls(a, 'b.example.test');
  const kept = p.throttlesOf(other);
  p.forget(b);
  t.equal(p.throttlesOf(other), kept, "forgetting one tunnel leaves the key's others alone");
  p.forget(tls(agent(K2), 'zzz.example.test'));
  t.pass('forgetting a tunnel that never had a budget is harmless');
});
