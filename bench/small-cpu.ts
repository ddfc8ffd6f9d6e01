/**
 * CPU cost of the small-message path: what the relay and the agent each spend per round trip of
 * a small message and per new connection, on the TCP route and the SNI route, read from
 * /proc/PID/task/*\/schedstat (nanoseconds on CPU, all threads). CPU per operation is steadier
 * than latency or conn/s on a shared machine; the wall figures are printed beside it. The
 * measurements are `relay bench`'s own (src/bench).
 *   npx tsx bench/small-cpu.ts                 # ChaChaPoly, 5 s of round trips, 5 s of connections
 *   CIPHER=aesgcm SECS=10 CONC=32 SIZE=1024 npx tsx bench/small-cpu.ts
 * Extra node flags for both processes: NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildClientHello, connRate, pingpong, startTargets, type Route } from '../src/bench/index.js';
import { freePort } from '../src/net/index.js';

const CIPHER = process.env.CIPHER ?? 'chachapoly';
const SECS = Number(process.env.SECS ?? 5);
const CONC = Number(process.env.CONC ?? 32);
const SIZE = Number(process.env.SIZE ?? 1);
const FLAGS = (process.env.NODE_FLAGS ?? '').split(' ').filter(Boolean);

function cpuNs(pid: number): number {
  let ns = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try { ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]); } catch { /* thread ended */ }
  }
  return ns;
}

function start(args: string[], home: string): { proc: ChildProcess; lines: () => string } {
  const proc = spawn(process.execPath, [...FLAGS, 'dist/cli/index.js', ...args], { env: { ...process.env, RELAY_HOME: home }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => { out += d; });
  return { proc, lines: () => out };
}

async function waitFor(get: () => string, re: RegExp): Promise<RegExpExecArray> {
  for (let i = 0; i < 400; i++) {
    const m = re.exec(get());
    if (m) return m;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${re}`);
}

async function main(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'small-cpu-')); chmodSync(home, 0o700);
  const targets = await startTargets();
  const tcpPort = await freePort();
  const relay = start(['serve', '--allow-any-agent', '--max-conns-per-ip', '0', '--tls-listen', '127.0.0.1:0', '--agent-listen', '127.0.0.1:0',
    '--admin-listen', 'off', '--tcp-ports', `${tcpPort}-${tcpPort}`, '--tcp-host', '127.0.0.1'], home);
  try {
    const ready = await waitFor(relay.lines, /^.*"event":"relay.ready".*$/m);
    const line = JSON.parse(ready[0]) as { agent: string; tls: string; publicKey: string };
    const agent = start(['agent', '--relay', line.agent, '--relay-key', line.publicKey, '--cipher', CIPHER, '--inspect', 'off',
      '--tls', `echo.bench.test=127.0.0.1:${targets.echoPort}`, '--tcp', `${tcpPort}=127.0.0.1:${targets.echoPort}`], home);
    try {
      await waitFor(agent.lines, /tunnel.ready[^\n]*"type":"tcp"|"type":"tcp"[^\n]*tunnel.ready/);
      await waitFor(agent.lines, /echo.bench.test/);
      const pids = [relay.proc.pid!, agent.proc.pid!];
      const run = async (label: string, f: () => Promise<{ ops: number; wall: string }>) => {
        const before = pids.map(cpuNs);
        const { ops, wall } = await f();
        const per = pids.map((p, i) => (cpuNs(p) - before[i]) / ops / 1000);
        console.log(`${label.padEnd(14)} relay ${per[0].toFixed(1).padStart(6)} µs  agent ${per[1].toFixed(1).padStart(6)} µs  sum ${(per[0] + per[1]).toFixed(1).padStart(6)} µs   ${wall}`);
      };
      const tcp: Route = { host: '127.0.0.1', port: tcpPort };
      const sni: Route = { host: '127.0.0.1', port: Number(line.tls.split(':').pop()), hello: buildClientHello('echo.bench.test') };
      await pingpong(tcp, SIZE, 1); // warm-up
      for (const [label, route] of [['tcp', tcp], ['sni', sni]] as const) {
        await run(`rtt ${label} ${SIZE} B`, async () => {
          const r = await pingpong(route, SIZE, SECS);
          return { ops: r.samples, wall: `p50 ${r.p50.toFixed(0)} µs  p99 ${r.p99.toFixed(0)} µs` };
        });
        await run(`conn ${label}`, async () => {
          const r = await connRate(route, CONC, SECS);
          return { ops: r.ok, wall: `${r.perSecond.toFixed(0)} conn/s${r.failures ? `, ${r.failures} failed` : ''}` };
        });
      }
    } finally { agent.proc.kill(); }
  } finally {
    relay.proc.kill();
    await targets.close();
    rmSync(home, { recursive: true, force: true });
  }
}

await main();
