import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RelayProcess, runRelay } from '../helpers/proc.js';
import { freePort, tempHome } from '../helpers/net.js';

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

t.test('--proxy-protocol, --allow and --deny: a bad value, or no tunnel flag to apply to, exits at start and says why', async (t) => {
  const home = tempHome(t);
  const config = join(home, 'agent.toml');
  writeFileSync(config, 'tcp = ["127.0.0.1:22"]\n');
  const cases: Array<[string[], string, RegExp]> = [
    [['--tcp', '127.0.0.1:22', '--proxy-protocol', 'v3'], 'BAD_TUNNEL', /--proxy-protocol must be v1 or v2, got "v3"/],
    [['--tcp', '127.0.0.1:22', '--allow', '10.0.0.0/33'], 'BAD_TUNNEL', /--allow: prefix length of "10\.0\.0\.0\/33" must be 0 to 32/],
    [['--tls', 'a.test=127.0.0.1:1', '--deny', 'example.com'], 'BAD_TUNNEL', /--deny: expected an address block/],
    [['--config', config, '--allow', '10.0.0.0/8'], '', /apply to the --tls and --tcp tunnels on the command line; there are none/],
  ];
  for (const [flags, code, error] of cases) {
    const r = await runRelay(['agent', '--relay', '127.0.0.1:1', '--relay-key', 'A'.repeat(43), '--no-warmup', ...flags], { env: { RELAY_HOME: tempHome(t) } });
    t.equal(r.code, 1, `${flags.join(' ')}: exit 1`);
    const line = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    t.equal(line.event, 'startup.failed');
    if (code) t.equal(line.code, code);
    t.match(String(line.error), error);
  }
});

t.test('a key that starts with "-" (one in 64 do) is taken as the key, not as an option of relay itself', async (t) => {
  const dead = await freePort();
  for (const key of [`-V${'A'.repeat(41)}`, `-h${'A'.repeat(41)}`]) {
    const agent = new RelayProcess(['agent', '--relay', `127.0.0.1:${dead}`, '--relay-key', key, '--no-warmup', '--inspect', 'off', '--tcp', '127.0.0.1:1'], { RELAY_HOME: tempHome(t) });
    t.teardown(() => agent.stop('SIGKILL'));
    const down = await agent.waitEvent('link.down');
    t.equal(down.code, 'HANDSHAKE_FAILED', `${key.slice(0, 2)}…: the agent runs and dials the relay`);
  }
  const r = await runRelay(['--version']);
  t.match(r.stdout, /^\d+\.\d+\.\d+/, 'relay --version still answers before a subcommand');
});
