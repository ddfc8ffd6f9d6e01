import t from 'tap';
import { RelayServer } from '../../src/relay/index.js';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { rawAgent, registerLine } from '../helpers/raw-agent.js';
import { captureLogger } from '../helpers/log.js';

t.test('the relay expires the leases of a gone agent on its own', { timeout: 20_000 }, async (t) => {
  const { logger, waitEvent } = captureLogger();
  const relay = new RelayServer({
    staticKey: generateKeyPair(), tlsListen: { host: '127.0.0.1', port: 0 }, agentListen: { host: '127.0.0.1', port: 0 }, adminListen: null,
    tcpPorts: null, allowAnyAgent: true, grants: [], leaseMs: 100, logger,
  });
  await relay.start();
  t.teardown(() => relay.close());
  const a = await rawAgent(relay.addresses.agent, relay.publicKey);
  a.write(registerLine(['a', 'b', 'c'].map((n) => ({ id: `tls:${n}.test`, type: 'tls', hostname: `${n}.test` }))));
  const answer = await a.line(0);
  t.equal((answer.tunnels as Array<{ ok: boolean }>).filter((r) => r.ok).length, 3, 'three names registered');
  a.session.destroy();
  const expired = await waitEvent('lease.expired');
  t.equal(expired.count, 3, 'all three leases expired');
  t.equal(expired.kept, 0, 'nothing kept');
});
