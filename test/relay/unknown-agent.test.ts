import t from 'tap';
import { RelayServer } from '../../src/relay/index.js';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { rawAgent } from '../helpers/raw-agent.js';
import { captureLogger } from '../helpers/log.js';

t.test('a session with a key the relay does not know is ended at a deadline, register or not', { timeout: 10_000 }, async (t) => {
  const { logger, waitEvent } = captureLogger();
  const relay = new RelayServer({
    staticKey: generateKeyPair(), tlsListen: null, agentListen: { host: '127.0.0.1', port: 0 }, adminListen: null,
    tcpPorts: null, allowAnyAgent: false, grants: [], unknownAgentTimeoutMs: 200, logger,
  });
  await relay.start();
  t.teardown(() => relay.close());
  const a = await rawAgent(relay.addresses.agent, relay.publicKey);
  const err = await a.closed; // it never registers: the relay must not keep it
  t.equal(err?.code, 'CONNECTION_LOST', 'the relay cut the session (no authenticated close)');
  const connected = await waitEvent('agent.connected');
  t.equal(connected.authorized, false, 'the relay saw an unknown key');
  const gone = await waitEvent('agent.disconnected');
  t.match(String(gone.error), /deadline/, 'ended by the unknown-key deadline');
});
