import t from 'tap';
import { RelayServer } from '../../src/relay/index.js';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { rawAgent } from '../helpers/raw-agent.js';
import { captureLogger } from '../helpers/log.js';

t.test('an agent that opens 1000 streams costs a few log lines, not 1000', async (t) => {
  const { logger, lines, waitEvent } = captureLogger();
  const relay = new RelayServer({
    staticKey: generateKeyPair(), tlsListen: null, agentListen: { host: '127.0.0.1', port: 0 }, adminListen: null,
    tcpPorts: null, allowAnyAgent: true, grants: [], logger,
  });
  await relay.start();
  t.teardown(() => relay.close());
  const a = await rawAgent(relay.addresses.agent, relay.publicKey);
  const resets = Array.from({ length: 1000 }, () => {
    const s = a.session.openStream({ tunnelId: 'not-control' });
    return new Promise<void>((r) => { s.onClose = () => r(); });
  });
  await Promise.all(resets);
  await a.session.ping(); // the session is still fine
  a.session.destroy();
  await waitEvent('agent.disconnected');
  const said = lines.filter((l) => l.event === 'agent.unexpected_stream').length;
  const summary = lines.find((l) => l.event === 'log.suppressed' && l.of === 'agent.unexpected_stream');
  t.ok(said <= 10, `${said} lines`);
  t.equal(said + Number(summary?.count ?? 0), 1000, 'the rest were counted in one line');
});
