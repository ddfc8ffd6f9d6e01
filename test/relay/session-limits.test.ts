import t from 'tap';
import { RelayServer } from '../../src/relay/index.js';
import { generateKeyPair, encodeKey } from '../../src/crypto/keys.js';
import { rawAgent } from '../helpers/raw-agent.js';
import { captureLogger } from '../helpers/log.js';

async function relayWith(t: { teardown: (fn: () => unknown) => void }, opts: Partial<ConstructorParameters<typeof RelayServer>[0]>) {
  const log = captureLogger();
  const relay = new RelayServer({
    staticKey: generateKeyPair(), tlsListen: null, agentListen: { host: '127.0.0.1', port: 0 }, adminListen: null,
    tcpPorts: null, allowAnyAgent: false, grants: [], unknownAgentTimeoutMs: 60_000, logger: log.logger, ...opts,
  });
  await relay.start();
  t.teardown(() => relay.close());
  return { relay, lines: log.lines, waitEvent: log.waitEvent };
}

t.test('sessions of unknown keys are capped: one more is closed at once', async (t) => {
  const { relay, waitEvent } = await relayWith(t, { maxUnknownAgentSessions: 2 });
  const held = [await rawAgent(relay.addresses.agent, relay.publicKey), await rawAgent(relay.addresses.agent, relay.publicKey)];
  const third = await rawAgent(relay.addresses.agent, relay.publicKey);
  await third.closed;
  const refused = await waitEvent('agent.refused');
  t.equal(refused.reason, 'too_many_unknown');
  t.equal(held.filter((a) => !a.session.isClosed).length, 2, 'the first two still hold their sessions');
});

t.test('a known key still gets in while unknown keys fill their cap', async (t) => {
  const known = generateKeyPair();
  const { relay, lines } = await relayWith(t, { maxUnknownAgentSessions: 1, grants: [{ name: 'known', key: encodeKey(known.publicKey), hosts: [], ports: [] }] });
  await rawAgent(relay.addresses.agent, relay.publicKey);
  const a = await rawAgent(relay.addresses.agent, relay.publicKey, known);
  await a.session.ping(); // the session is live: the relay answers
  t.notOk(a.session.isClosed);
  t.equal(lines.filter((l) => l.event === 'agent.refused').length, 0);
});

t.test('--allow-any-agent: the total cap holds', async (t) => {
  const { relay, waitEvent } = await relayWith(t, { allowAnyAgent: true, maxAgentSessions: 1 });
  await rawAgent(relay.addresses.agent, relay.publicKey);
  const second = await rawAgent(relay.addresses.agent, relay.publicKey);
  await second.closed;
  t.equal((await waitEvent('agent.refused')).reason, 'too_many_sessions');
});
