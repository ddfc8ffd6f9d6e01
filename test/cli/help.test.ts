import t from 'tap';
import { runRelay } from '../helpers/proc.js';

t.test('relay --help lists every subcommand', async (t) => {
  const r = await runRelay(['--help']);
  t.equal(r.code, 0, r.stderr);
  for (const sub of ['serve', 'agent', 'keygen', 'bench']) t.match(r.stdout, new RegExp(`^\\s+${sub}\\b`, 'm'), sub);
});

t.test('an unknown subcommand fails', async (t) => {
  const r = await runRelay(['frobnicate']);
  t.not(r.code, 0);
  t.match(r.stderr, /unknown command/);
});
