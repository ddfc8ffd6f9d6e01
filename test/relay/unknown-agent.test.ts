import t from 'tap';
import { RelayServer } from '../../src/relay/server.js';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { silentLogger } from '../../src/log.js';
import { rawAgent } from '../helpers/raw-agent.js';

t.test('a session with a key the relay does not know is ended at a deadline, register or not', { timeout: 10_000 }, async (t) => {
  const relay = new RelayServer({
    staticKey: generateKeyPair(), tlsListen: null, agentListen: { host: '127.0.0.1', port: 0 }, adminListen: null,
    tcpPorts: null, allowAnyAgent: false, grants: [], unknownAgentTimeoutMs: 200, logger: silentLogger,
  });
  await relay.start();
  t.teardown(() => relay.close());
  const a = await rawAgent(relay.addresses.agent, relay.publicKey);
  const err = await a.closed; // it never registers: the relay must not keep it
  t.ok(err, `the session ended (${err?.code})`);
});
