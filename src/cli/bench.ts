import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { startTargets, type Targets, buildClientHello, bulk, pingpong, connRate, idleMemory, type Route } from '../bench/index.js';
import { freePort, parseHostPort } from '../net/index.js';
import { intOption } from './state.js';

const SCENARIOS = ['bulk', 'latency', 'connrate', 'memory'] as const;
type Scenario = typeof SCENARIOS[number];

interface BenchFlags {
  duration: number; streams: number; cipher: string; scenario?: string; json?: boolean;
  relay?: string; sni?: string; tcpPort?: number; idleConns: number; concurrency: number;
}

/** One figure: the tunnel's value, the direct connection's, and how they compare. */
interface Row { figure: string; unit: string; tunnel: number; direct: number | null; higherIsBetter: boolean }

export function registerBench(program: Command): void {
  program.command('bench')
    .description('measure a tunnel (relay + agent, started here on loopback) against a direct connection, in one run')
    .option('--duration <s>', 'seconds per measurement', intOption('--duration'), 3)
    .option('--streams <n>', 'parallel streams for the multi-stream bulk figure', intOption('--streams'), 8)
    .option('--cipher <name>', 'Noise cipher for the agent: chachapoly or aesgcm', 'chachapoly')
    .option('--scenario <list>', `comma-separated subset of ${SCENARIOS.join(',')}`)
    .option('--concurrency <n>', 'connections in flight for the connection-rate figure', intOption('--concurrency'), 16)
    .option('--idle-conns <n>', 'idle connections opened for the memory figure', intOption('--idle-conns'), 2000)
    .option('--json', 'print the results as JSON')
    .option('--relay <host:port>', 'measure a relay already running: its public address (echo target behind it)')
    .option('--sni <name>', 'with --relay: the TLS route\'s name')
    .option('--tcp-port <port>', 'with --relay: a TCP tunnel port', intOption('--tcp-port'))
    .action(async (flags: BenchFlags) => { process.exitCode = await bench(flags); });
}

/** A child `relay` process whose JSON log lines are watched for events. */
class Child {
  readonly proc: ChildProcess;
  private readonly lines: Array<Record<string, unknown>> = [];
  private waiters: Array<() => void> = [];
  constructor(args: string[], env: NodeJS.ProcessEnv) {
    const bin = join(fileURLToPath(new URL('.', import.meta.url)), 'index.js');
    this.proc = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        try { this.lines.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>); } catch { /* not JSON */ }
        buf = buf.slice(nl + 1);
      }
      const w = this.waiters; this.waiters = []; for (const f of w) f();
    });
  }
  async wait(event: string, where: (l: Record<string, unknown>) => boolean = () => true): Promise<Record<string, unknown>> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const l = this.lines.find((x) => x.event === event && where(x));
      if (l) return l;
      if (this.proc.exitCode !== null) throw new Error(`relay ${event}: the process exited (${this.proc.exitCode})`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${event}`);
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 200).unref(); });
    }
  }
  stop(): void { this.proc.kill('SIGKILL'); }
}

function progress(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${text}`);
}

async function bench(f: BenchFlags): Promise<number> {
  const wanted = new Set<Scenario>((f.scenario ?? SCENARIOS.join(',')).split(',').map((s) => s.trim()) as Scenario[]);
  for (const s of wanted) if (!SCENARIOS.includes(s)) { process.stderr.write(`relay bench: unknown scenario ${JSON.stringify(s)}\n`); return 2; }
  if (f.cipher !== 'chachapoly' && f.cipher !== 'aesgcm') { process.stderr.write('relay bench: --cipher must be chachapoly or aesgcm\n'); return 2; }
  const rows: Row[] = [];
  const children: Child[] = [];
  let targets: Targets | null = null;
  const home = mkdtempSync(join(tmpdir(), 'relay-bench-'));
  chmodSync(home, 0o700);
  try {
    let routes: Array<{ label: string; echo: Route; sink: Route | null; direct: { echo: Route; sink: Route } | null }>;
    let pids: number[] = [];
    if (f.relay) {
      // A relay elsewhere: only the tunnel column; the route must lead to an echo server.
      const at = parseHostPort(f.relay, '127.0.0.1');
      routes = [];
      if (f.sni) routes.push({ label: 'sni', echo: { ...at, hello: buildClientHello(f.sni) }, sink: null, direct: null });
      if (f.tcpPort) routes.push({ label: 'tcp', echo: { host: at.host, port: f.tcpPort }, sink: null, direct: null });
      if (routes.length === 0) { process.stderr.write('relay bench: --relay needs --sni NAME or --tcp-port PORT\n'); return 2; }
      wanted.delete('memory');
    } else {
      progress('starting relay, agent and targets…');
      targets = await startTargets();
      // Tunnel ports from the OS, asked for by the agent explicitly (the range only has to hold them).
      const [pEcho, pSink] = [await freePort(), await freePort()];
      const relay = new Child(['serve', '--allow-any-agent', '--max-conns-per-ip', '0', '--tls-listen', '127.0.0.1:0', '--agent-listen', '127.0.0.1:0',
        '--admin-listen', 'off', '--tcp-ports', `${Math.min(pEcho, pSink)}-${Math.max(pEcho, pSink)}`, '--tcp-host', '127.0.0.1'], { RELAY_HOME: home });
      children.push(relay);
      const ready = await relayReady(relay);
      const agent = new Child(['agent', '--relay', String(ready.agent), '--relay-key', String(ready.publicKey), '--cipher', f.cipher,
        '--tls', `echo.bench.test=127.0.0.1:${targets.echoPort}`, '--tls', `sink.bench.test=127.0.0.1:${targets.sinkPort}`,
        '--tcp', `${pEcho}=127.0.0.1:${targets.echoPort}`, '--tcp', `${pSink}=127.0.0.1:${targets.sinkPort}`], { RELAY_HOME: home });
      children.push(agent);
      const tcpEcho = await agent.wait('tunnel.ready', (l) => l.target === `127.0.0.1:${targets!.echoPort}` && l.type === 'tcp');
      const tcpSink = await agent.wait('tunnel.ready', (l) => l.target === `127.0.0.1:${targets!.sinkPort}` && l.type === 'tcp');
      await agent.wait('tunnel.ready', (l) => l.hostname === 'echo.bench.test');
      await agent.wait('tunnel.ready', (l) => l.hostname === 'sink.bench.test');
      const tls = parseHostPort(String(ready.tls));
      const direct = (hello?: Buffer) => ({ echo: { host: '127.0.0.1', port: targets!.echoPort, hello }, sink: { host: '127.0.0.1', port: targets!.sinkPort, hello } });
      const echoHello = buildClientHello('echo.bench.test');
      const sinkHello = buildClientHello('sink.bench.test');
      routes = [
        { label: 'tcp', echo: { host: '127.0.0.1', port: Number(tcpEcho.port) }, sink: { host: '127.0.0.1', port: Number(tcpSink.port) }, direct: direct() },
        { label: 'sni', echo: { ...tls, hello: echoHello }, sink: { ...tls, hello: sinkHello }, direct: { echo: { ...direct().echo, hello: echoHello }, sink: { ...direct().sink, hello: sinkHello } } },
      ];
      pids = [relay.proc.pid!, agent.proc.pid!];
    }
    const secs = f.duration;
    const sink = targets ? () => targets!.sinkBytes() : undefined;
    for (const r of routes) {
      if (wanted.has('bulk') && (r.sink || f.relay)) {
        for (const n of [1, f.streams]) {
          progress(`bulk ${r.label} ${n} stream(s)…`);
          const tunnel = await bulk(r.sink ?? r.echo, n, secs, r.sink ? sink : undefined);
          const direct = r.direct ? await bulk(r.direct.sink, n, secs, sink) : null;
          rows.push({ figure: `bulk ${r.label}, ${n} stream${n > 1 ? 's' : ''}`, unit: 'MB/s', tunnel, direct, higherIsBetter: true });
        }
      }
      if (wanted.has('latency')) {
        for (const size of [1, 16 * 1024]) {
          progress(`latency ${r.label} ${size} B…`);
          const tunnel = await pingpong(r.echo, size, secs);
          const direct = r.direct ? await pingpong(r.direct.echo, size, secs) : null;
          const label = size === 1 ? '1 B' : '16 KiB';
          rows.push({ figure: `RTT ${r.label} ${label} p50`, unit: 'µs', tunnel: tunnel.p50, direct: direct?.p50 ?? null, higherIsBetter: false });
          rows.push({ figure: `RTT ${r.label} ${label} p99`, unit: 'µs', tunnel: tunnel.p99, direct: direct?.p99 ?? null, higherIsBetter: false });
        }
      }
      if (wanted.has('connrate')) {
        progress(`connection rate ${r.label}…`);
        const tunnel = await connRate(r.echo, f.concurrency, secs);
        const direct = r.direct ? await connRate(r.direct.echo, f.concurrency, secs) : null;
        rows.push({ figure: `new conns ${r.label}`, unit: 'conn/s', tunnel: tunnel.perSecond, direct: direct?.perSecond ?? null, higherIsBetter: true });
        if (tunnel.failures) rows.push({ figure: `failed conns ${r.label}`, unit: 'count', tunnel: tunnel.failures, direct: direct?.failures ?? null, higherIsBetter: false });
      }
    }
    if (wanted.has('memory') && pids.length) {
      progress(`memory: ${f.idleConns} idle connections…`);
      const [relayKiB, agentKiB] = await idleMemory(routes[0].echo, f.idleConns, pids);
      rows.push({ figure: 'relay RSS per idle conn', unit: 'KiB', tunnel: relayKiB, direct: null, higherIsBetter: false });
      rows.push({ figure: 'agent RSS per idle conn', unit: 'KiB', tunnel: agentKiB, direct: null, higherIsBetter: false });
    }
    progress('');
    if (f.json) process.stdout.write(JSON.stringify({ cipher: f.cipher, duration: secs, streams: f.streams, rows }, null, 2) + '\n');
    else process.stdout.write(table(rows, f.cipher));
    return 0;
  } catch (e) {
    progress('');
    process.stderr.write(`relay bench: ${(e as Error).message}\n`);
    return 1;
  } finally {
    for (const c of children) c.stop();
    await targets?.close();
    rmSync(home, { recursive: true, force: true });
  }
}

async function relayReady(relay: Child): Promise<Record<string, unknown>> {
  return relay.wait('relay.ready');
}

function fmt(n: number | null): string {
  if (n === null || Number.isNaN(n)) return '–';
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(n >= 10 ? 1 : 2);
}

/** figure | tunnel | direct | ratio (tunnel / direct) */
function table(rows: Row[], cipher: string): string {
  const head = ['figure', 'unit', `tunnel (${cipher})`, 'direct', 'tunnel/direct'];
  const body = rows.map((r) => [r.figure, r.unit, fmt(r.tunnel), fmt(r.direct), r.direct ? (r.tunnel / r.direct).toFixed(2) : '–']);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n') + '\n';
}
