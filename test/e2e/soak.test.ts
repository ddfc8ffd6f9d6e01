// A short soak (the long one is `npx tsx bench/soak.ts 600`, figures in docs/reliability.md):
// reconnects every 3 s, short connections, a slow reader; descriptors come back to where they
// started once the load stops, and RSS is reported.
import t from 'tap';
import { soak } from '../../support/index.js';

t.test('soak: descriptors stay flat through reconnects, short connections and a slow reader', { timeout: 120_000 }, async (t) => {
  const { samples, after } = await soak({ seconds: 15 });
  const first = samples[0];
  t.ok(after.reconnects >= 4, `${after.reconnects} link resets`);
  t.ok(after.shortConns > 100, `${after.shortConns} short connections served (${after.failures} cut by a reset)`);
  t.ok(after.slowBytes > 1e6, `${(after.slowBytes / 1e6).toFixed(1)} MB to the slow reader`);
  t.ok(after.relay.fds - first.relay.fds < 30, `relay descriptors ${first.relay.fds} → ${after.relay.fds}`);
  t.ok(after.agent.fds - first.agent.fds < 30, `agent descriptors ${first.agent.fds} → ${after.agent.fds}`);
  const peak = (k: 'relay' | 'agent'): number => Math.max(...samples.map((s) => s[k].rssMiB));
  t.comment(`RSS relay ${first.relay.rssMiB.toFixed(0)} → ${after.relay.rssMiB.toFixed(0)} MiB (peak ${peak('relay').toFixed(0)}), agent ${first.agent.rssMiB.toFixed(0)} → ${after.agent.rssMiB.toFixed(0)} MiB (peak ${peak('agent').toFixed(0)})`);
});
