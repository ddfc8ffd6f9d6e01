import t from 'tap';
import { runRelay } from '../helpers/proc.js';
import { tempHome } from '../helpers/net.js';

const serve = (extra: string[]) => runRelay(['serve', '--no-warmup', '--tls-listen', '127.0.0.1:0', '--agent-listen', '127.0.0.1:0', '--admin-listen', 'off', ...extra],
  { env: { RELAY_HOME: tempHome() } });

t.test('bad serve flags: one clear line, exit 1, no stack trace', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--client-hello-timeout', '-5'], /--client-hello-timeout expects a whole number/],
    [['--idle-timeout', '1e3'], /--idle-timeout expects a whole number/],
    [['--client-hello-timeout', '0'], /--client-hello-timeout must be at least 1/],
    [['--tcp-host', '999.1.1.1'], /--tcp-host must be an IP address/],
  ];
  for (const [flags, re] of cases) {
    const r = await serve(flags);
    const out = r.stdout + r.stderr;
    t.equal(r.code, 1, `${flags.join(' ')}: exit 1`);
    t.match(out, re, `${flags.join(' ')}: says why`);
    t.notMatch(out, /\n\s+at /, `${flags.join(' ')}: no stack trace`);
  }
});
