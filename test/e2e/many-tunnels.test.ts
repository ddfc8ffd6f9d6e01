import t from 'tap';
import net from 'node:net';
import { startAgent, startDevRelay, portOf } from '../helpers/proc.js';
import { rawAgent, registerLine } from '../helpers/raw-agent.js';
import { listen, readBytes } from '../helpers/net.js';
import { buildClientHello } from '../../src/bench/client-hello.js';

/** The longest host name there is: 253 characters, four labels. */
const LONGEST = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;

t.test('253-character names work, and a tunnel past the cap is refused alone', { timeout: 60_000 }, async (t) => {
  const echo = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
  const echoPort = await listen(echo, t);
  const { ready } = await startDevRelay(t);
  const names = [LONGEST, ...Array.from({ length: 256 }, (_, i) => `n${i}.many.test`)]; // 257: one past the cap
  const agent = startAgent(t, ready, names.flatMap((n) => ['--tls', `${n}=127.0.0.1:${echoPort}`]));
  const refused = await agent.waitEvent('tunnel.error');
  t.equal(refused.code, 'TOO_MANY_TUNNELS');
  t.equal(refused.tunnel, names[256], 'the one past the cap, said at start');
  const live = await agent.waitEvent('tunnel.ready', (l) => l.hostname === names[255]);
  t.ok(live, 'the last tunnel within the cap went live');
  t.equal(agent.lines.filter((l) => l.event === 'tunnel.ready').length, 256, 'every other tunnel is live');
  t.ok(agent.lines.some((l) => l.event === 'tunnel.ready' && l.hostname === LONGEST), 'the 253-character name is live');

  // A connection for the longest name reaches the service: the echo sends the hello back.
  const hello = buildClientHello(LONGEST);
  const c = net.connect(portOf(ready.tls), '127.0.0.1');
  c.write(hello);
  const got = await readBytes(c, hello.length);
  c.destroy();
  t.ok(got.equals(hello), 'the ClientHello came back verbatim');
});

t.test('a register past the cap, from an agent that does not check: each excess tunnel is refused, the session stays', { timeout: 30_000 }, async (t) => {
  const { ready } = await startDevRelay(t);
  const a = await rawAgent(String(ready.agent), String(ready.publicKey));
  a.write(registerLine(Array.from({ length: 300 }, (_, i) => ({ id: `t${i}`, type: 'tls', hostname: `t${i}.cap.test` }))));
  const answer = await a.line(0);
  const results = answer.tunnels as Array<{ ok: boolean; code?: string }>;
  t.equal(results.length, 300, 'one result per entry');
  t.equal(results.filter((r) => r.ok).length, 256);
  t.same([...new Set(results.filter((r) => !r.ok).map((r) => r.code))], ['TOO_MANY_TUNNELS']);
  t.equal(await a.session.ping().then(() => 'alive'), 'alive', 'the session goes on');
});
