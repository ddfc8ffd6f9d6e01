import t from 'tap';
import { runRelay } from '../helpers/proc.js';
import { tempHome } from '../helpers/net.js';

t.test('an agent given a name no client can reach exits at start and says why', async (t) => {
  for (const name of ['127.0.0.1', '2130706433', 'bad..name']) {
    const r = await runRelay(['agent', '--relay', '127.0.0.1:1', '--relay-key', 'A'.repeat(43), '--no-warmup', '--tls', `${name}=127.0.0.1:8444`],
      { env: { RELAY_HOME: tempHome() } });
    t.equal(r.code, 1, `${name}: exit 1`);
    const line = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    t.equal(line.event, 'startup.failed', `${name}: startup.failed`);
    t.equal(line.code, 'BAD_TUNNEL', `${name}: BAD_TUNNEL`);
    t.match(String(line.error), /is not a host name \((IP literal|empty label)\)/, `${name}: the reason`);
  }
});
