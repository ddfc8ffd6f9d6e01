// `npx tsx bench/soak.ts [SECONDS]`: the soak of support/soak.ts, with a line per sample: the
// relay's and the agent's RSS and descriptors while the agent reconnects every 3 s, 8 loops of
// short connections run and a slow reader drains a long transfer. Build first (npm run build).
import { soak } from '../support/index.js';

const seconds = Number(process.argv[2] ?? 60);
const line = (label: string, s: { relay: { rssMiB: number; fds: number }; agent: { rssMiB: number; fds: number }; shortConns: number; failures: number; slowBytes: number; reconnects: number }): string =>
  `${label.padStart(6)}  relay ${s.relay.rssMiB.toFixed(0).padStart(4)} MiB ${String(s.relay.fds).padStart(5)} fds   agent ${s.agent.rssMiB.toFixed(0).padStart(4)} MiB ${String(s.agent.fds).padStart(5)} fds   conns ${s.shortConns} (failed ${s.failures})  slow ${(s.slowBytes / 1e6).toFixed(0)} MB  reconnects ${s.reconnects}`;
process.stdout.write(`soak ${seconds} s, node ${process.version}, ${new Date().toISOString()}\n`);
const { after } = await soak({ seconds, onSample: (s) => process.stdout.write(`${line(`${s.second}s`, s)}\n`) });
process.stdout.write(`${line('after', after)}\n`);
