/**
 * CPU cost of the small-message path: what the relay and the agent each spend per round trip of
 * a small message and per new connection, on the TCP route and the SNI route, read from
 * /proc/PID/task/*\/schedstat (nanoseconds on CPU, all threads). CPU per operation is steadier
 * than latency or conn/s on a shared machine; the wall figures are printed beside it.
 *   npx tsx bench/small-cpu.ts                 # ChaChaPoly, 20 000 round trips, 6 000 connections
 *   CIPHER=aesgcm RTS=50000 CONNS=10000 npx tsx bench/small-cpu.ts
 * Extra node flags for both processes: NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildClientHello, startTargets } from '../src/bench/index.js';
import { freePort } from '../src/net/index.js';

const CIPHER = process.env.CIPHER ?? 'chachapoly';
const RTS = Number(process.env.RTS ?? 20_000);
const CONNS = Number(process.env.CONNS ?? 6_000);
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
  proc.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
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

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
    s.once('connect', () => resolve(s)).once('error', reject);
  });
}

function echoOf(s: net.Socket, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const onData = (d: Buffer) => { got += d.length; if (got >= n) { s.off('data', onData); s.off('close', reject); resolve(); } };
    s.on('data', onData).once('close', reject);
  });
}

async function roundTrips(port: number, hello: Buffer | null): Promise<{ p50: number; p99: number }> {
  const s = await connect(port);
  if (hello) { const e = echoOf(s, hello.length); s.write(hello); await e; }
  const msg = Buffer.alloc(SIZE, 0x61);
  const us: number[] = [];
  for (let i = 0; i < RTS; i++) {
    const t0 = process.hrtime.bigint();
    const e = echoOf(s, SIZE); s.write(msg); await e;
    us.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  s.destroy();
  us.sort((a, b) => a - b);
  return { p50: us[Math.floor(us.length / 2)], p99: us[Math.floor(us.length * 0.99)] };
}

async function connections(port: number, hello: Buffer | null): Promise<number> {
  const first = hello ?? Buffer.from([0x2a]);
  let left = CONNS;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONC }, async () => {
    while (left-- > 0) {
      const s = await connect(port);
      const e = echoOf(s, first.length); s.write(first); await e;
      s.destroy();
    }
  }));
  return CONNS / ((performance.now() - t0) / 1000);
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
    const agent = start(['agent', '--relay', line.agent, '--relay-key', line.publicKey, '--cipher', CIPHER,
      '--tls', `echo.bench.test=127.0.0.1:${targets.echoPort}`, '--tcp', `${tcpPort}=127.0.0.1:${targets.echoPort}`], home);
    try {
      await waitFor(agent.lines, /tunnel.ready[^\n]*"type":"tcp"|"type":"tcp"[^\n]*tunnel.ready/);
      await waitFor(agent.lines, /echo.bench.test/);
      const tlsPort = Number(line.tls.split(':').pop());
      const hello = buildClientHello('echo.bench.test');
      const pids = [relay.proc.pid!, agent.proc.pid!];
      const run = async (label: string, n: number, f: () => Promise<string>) => {
        const before = pids.map(cpuNs);
        const wall = await f();
        const per = pids.map((p, i) => (cpuNs(p) - before[i]) / n / 1000);
        console.log(`${label.padEnd(14)} relay ${per[0].toFixed(1).padStart(6)} µs  agent ${per[1].toFixed(1).padStart(6)} µs  sum ${(per[0] + per[1]).toFixed(1).padStart(6)} µs   ${wall}`);
      };
      await roundTrips(tcpPort, null); // warm-up
      for (const [label, port, h] of [['tcp', tcpPort, null], ['sni', tlsPort, hello]] as const) {
        await run(`rtt ${label} ${SIZE} B`, RTS, async () => { const r = await roundTrips(port, h); return `p50 ${r.p50.toFixed(0)} µs  p99 ${r.p99.toFixed(0)} µs`; });
        await run(`conn ${label}`, CONNS, async () => `${(await connections(port, h)).toFixed(0)} conn/s`);
      }
    } finally { agent.proc.kill(); }
  } finally {
    relay.proc.kill();
    await targets.close();
    rmSync(home, { recursive: true, force: true });
  }
}

await main();
