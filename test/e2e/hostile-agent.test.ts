import t from 'tap';
import { startDevRelay } from '../helpers/proc.js';
import { rawAgent, registerLine } from '../helpers/raw-agent.js';
import type { RelayProcess } from '../helpers/proc.js';
import { freePort } from '../helpers/net.js';

/** `p`, unless the relay process exits first (then a failure that shows why). */
function whileAlive<T>(relay: RelayProcess, p: Promise<T>): Promise<T> {
  return Promise.race([p, relay.exited.then((e) => { throw new Error(`relay exited (${e.code ?? e.signal}): ${relay.stderr.slice(-800)}`); })]);
}

/**
 * What an agent key (any key, in development mode; an unknown key, always) can send on its
 * control stream must never take the relay down, and must never leave state behind.
 */

t.test('register then FIN in one message: the relay answers and stays up', { timeout: 30_000 }, async (t) => {
  const { relay, ready } = await startDevRelay(t);
  const a = await rawAgent(String(ready.agent), String(ready.publicKey));
  // Both frames leave in one Noise message, so the relay sees the FIN before its answer is ready.
  a.write(registerLine([{ id: 'tls:fin.test', type: 'tls', hostname: 'fin.test' }]));
  a.control.end();
  const answer = await whileAlive(relay, a.line(0));
  t.equal(answer.t, 'registered');
  t.match(answer.tunnels, [{ id: 'tls:fin.test', ok: true }]);
  // The relay is still serving: another agent registers.
  const b = await rawAgent(String(ready.agent), String(ready.publicKey));
  b.write(registerLine([{ id: 'tls:after.test', type: 'tls', hostname: 'after.test' }]));
  t.match(await whileAlive(relay, b.line(0)), { t: 'registered', tunnels: [{ ok: true }] });
  t.equal(relay.child.exitCode, null, 'the relay is alive');
  a.session.close(); b.session.close();
  await Promise.all([a.closed, b.closed]);
});

t.test('two registers on one session reusing a tunnel id leave no name or port behind', { timeout: 30_000 }, async (t) => {
  const tcpPort = await freePort();
  // --lease 0: a name is free again as soon as its last session is gone.
  const { relay, ready } = await startDevRelay(t, ['--tcp-ports', `${tcpPort}-${tcpPort}`, '--lease', '0']);
  const a = await rawAgent(String(ready.agent), String(ready.publicKey));
  // The first (TCP) register waits for a port to bind; the second (TLS, same id) is answered
  // meanwhile. Before the fix the TCP result then overwrote the TLS one, so closing the session
  // released only the port: the name's lease and a dead pool member stayed forever.
  a.write(registerLine([{ id: 'x', type: 'tcp', port: 0 }]) + registerLine([{ id: 'x', type: 'tls', hostname: 'leak.test' }]));
  await whileAlive(relay, Promise.race([a.line(1), a.closed]));
  a.session.close();
  await a.closed;
  const b = await rawAgent(String(ready.agent), String(ready.publicKey));
  b.write(registerLine([{ id: 'tls:leak.test', type: 'tls', hostname: 'leak.test' }]));
  const answer = await whileAlive(relay, b.line(0));
  t.match(answer.tunnels, [{ ok: true, hostname: 'leak.test' }], 'another key can take the name once the first session is gone');
  b.session.close();
  await b.closed;
});
