import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import {
  startTargets, type Targets, buildClientHello, bulk, pingpong, connRate, idleMemory, type Route,
  startSshTunnels, findOpenSsh, SSH_CIPHERS, OPENSSH_MISSING, type SshCipher, type SshTunnels,
} from '../bench/index.js';
import { freePort, parseHostPort } from '../net/index.js';
import { intOption } from './state.js';

const SCENARIOS = ['bulk', 'latency', 'connrate', 'memory'] as const;
type Scenario = typeof SCENARIOS[number];
/** Baselines `--vs` knows. */
const BASELINES = ['ssh'] as const;

/** The JSON column of an OpenSSH cipher: `ssh-chacha20-poly1305`, `ssh-aes128-gcm`. */
const sshColumn = (cipher: SshCipher) => `ssh-${cipher.replace(/@openssh\.com$/, '')}`;

interface BenchFlags {
  duration: number; streams: number; cipher: string; scenario?: string; json?: boolean;
  relay?: string; sni?: string; tcpPort?: number; idleConns: number; concurrency: number; vs?: string;
}

/**
 * One figure: the tunnel's value, the direct connection's, and how they compare; `columns` holds
 * every column's value by name (the same `tunnel` and `direct`, and each `--vs` baseline), null
 * where that column has no value.
 */
interface Row { figure: string; unit: string; tunnel: number; direct: number | null; higherIsBetter: boolean; columns: Record<string, number | null> }

/** Where one column's measurements connect on one route: the echo, and the sink for bulk. */
interface Path { echo: Route; sink: Route | null }

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
    .option('--vs <list>', `comma-separated baselines measured beside the tunnel: ${BASELINES.join(',')} (OpenSSH ssh -R, started here on loopback)`)
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
  const baselines = new Set(f.vs === undefined ? [] : f.vs.split(',').map((s) => s.trim()));
  for (const b of baselines) {
    if (!(BASELINES as readonly string[]).includes(b)) { process.stderr.write(`relay bench: unknown --vs baseline ${JSON.stringify(b)} (known: ${BASELINES.join(', ')})\n`); return 2; }
  }
  if (baselines.has('ssh') && f.relay) { process.stderr.write('relay bench: --vs ssh starts its own targets on loopback; it cannot measure a relay elsewhere (--relay)\n'); return 2; }
  const openSsh = baselines.has('ssh') ? findOpenSsh() : null;
  if (baselines.has('ssh') && !openSsh) { process.stderr.write(`relay bench --vs ssh: ${OPENSSH_MISSING}\n`); return 2; }
  const sshCiphers = openSsh ? SSH_CIPHERS : [];
  const columns = ['tunnel', 'direct', ...sshCiphers.map(sshColumn)];
  const rows: Row[] = [];
  const children: Child[] = [];
  let targets: Targets | null = null;
  let ssh: SshTunnels | null = null;
  const home = mkdtempSync(join(tmpdir(), 'relay-bench-'));
  chmodSync(home, 0o700);
  // Ctrl-C (or a TERM) mid-run: stop every child and remove the temporary directories, then exit.
  const cleanUp = () => {
    for (const c of children) c.stop();
    ssh?.close();
    rmSync(home, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => { progress(''); cleanUp(); process.exit(signal === 'SIGINT' ? 130 : 143); };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    // Per route, each column's path (null: not measured on this route), the tunnel's first.
    let routes: Array<{ label: string; paths: Map<string, Path | null> }>;
    let pids: number[] = [];
    if (f.relay) {
      // A relay elsewhere: only the tunnel column; the route must lead to an echo server.
      const at = parseHostPort(f.relay, '127.0.0.1');
      const only = (p: Path) => new Map<string, Path | null>([['tunnel', p], ['direct', null]]);
      routes = [];
      if (f.sni) routes.push({ label: 'sni', paths: only({ echo: { ...at, hello: buildClientHello(f.sni) }, sink: null }) });
      if (f.tcpPort) routes.push({ label: 'tcp', paths: only({ echo: { host: at.host, port: f.tcpPort }, sink: null }) });
      if (routes.length === 0) { process.stderr.write('relay bench: --relay needs --sni NAME or --tcp-port PORT\n'); return 2; }
      wanted.delete('memory');
    } else {
      progress('starting relay, agent and targets…');
      targets = await startTargets();
      if (openSsh) {
        progress('starting sshd and ssh -R…');
        ssh = await startSshTunnels(openSsh, [targets.echoPort, targets.sinkPort], sshCiphers);
      }
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
      const loopback = (port: number, hello?: Buffer): Route => ({ host: '127.0.0.1', port, hello });
      const echoHello = buildClientHello('echo.bench.test');
      const sinkHello = buildClientHello('sink.bench.test');
      const tcp = new Map<string, Path | null>([
        ['tunnel', { echo: loopback(Number(tcpEcho.port)), sink: loopback(Number(tcpSink.port)) }],
        ['direct', { echo: loopback(targets.echoPort), sink: loopback(targets.sinkPort) }],
      ]);
      const sni = new Map<string, Path | null>([
        ['tunnel', { echo: { ...tls, hello: echoHello }, sink: { ...tls, hello: sinkHello } }],
        ['direct', { echo: loopback(targets.echoPort, echoHello), sink: loopback(targets.sinkPort, sinkHello) }],
      ]);
      // ssh -R forwards TCP ports: it has no SNI route.
      for (const c of sshCiphers) {
        tcp.set(sshColumn(c), { echo: loopback(ssh!.port(c, targets.echoPort)), sink: loopback(ssh!.port(c, targets.sinkPort)) });
        sni.set(sshColumn(c), null);
      }
      routes = [{ label: 'tcp', paths: tcp }, { label: 'sni', paths: sni }];
      pids = [relay.proc.pid!, agent.proc.pid!];
    }
    const secs = f.duration;
    const sink = targets ? () => targets!.sinkBytes() : undefined;
    /** Runs `measure` on each column's path of a route, in column order: null where a column has none. */
    const each = async <T>(r: typeof routes[number], what: string, measure: (p: Path) => Promise<T>): Promise<Map<string, T | null>> => {
      const out = new Map<string, T | null>();
      for (const col of columns) {
        const p = r.paths.get(col) ?? null;
        if (p) progress(`${what} (${col})…`);
        out.set(col, p ? await measure(p) : null);
      }
      return out;
    };
    const row = (figure: string, unit: string, higherIsBetter: boolean, values: Map<string, number | null>): Row => {
      const cols = Object.fromEntries(columns.map((c) => [c, values.get(c) ?? null]));
      return { figure, unit, tunnel: cols.tunnel ?? NaN, direct: cols.direct, higherIsBetter, columns: cols };
    };
    const pick = <T>(m: Map<string, T | null>, get: (v: T) => number) => new Map([...m].map(([k, v]) => [k, v === null ? null : get(v)]));
    for (const r of routes) {
      const tunnelSink = r.paths.get('tunnel')?.sink;
      if (wanted.has('bulk') && (tunnelSink || f.relay)) {
        for (const n of [1, f.streams]) {
          const v = await each(r, `bulk ${r.label} ${n} stream(s)`, (p) => bulk(p.sink ?? p.echo, n, secs, p.sink ? sink : undefined));
          rows.push(row(`bulk ${r.label}, ${n} stream${n > 1 ? 's' : ''}`, 'MB/s', true, v));
        }
      }
      if (wanted.has('latency')) {
        for (const size of [1, 16 * 1024]) {
          const v = await each(r, `latency ${r.label} ${size} B`, (p) => pingpong(p.echo, size, secs));
          const label = size === 1 ? '1 B' : '16 KiB';
          rows.push(row(`RTT ${r.label} ${label} p50`, 'µs', false, pick(v, (x) => x.p50)));
          rows.push(row(`RTT ${r.label} ${label} p99`, 'µs', false, pick(v, (x) => x.p99)));
        }
      }
      if (wanted.has('connrate')) {
        const v = await each(r, `connection rate ${r.label}`, (p) => connRate(p.echo, f.concurrency, secs));
        rows.push(row(`new conns ${r.label}`, 'conn/s', true, pick(v, (x) => x.perSecond)));
        if ([...v.values()].some((x) => x?.failures)) rows.push(row(`failed conns ${r.label}`, 'count', false, pick(v, (x) => x.failures)));
      }
    }
    if (wanted.has('memory') && pids.length) {
      progress(`memory: ${f.idleConns} idle connections…`);
      const tcp = routes[0].paths;
      const [relayKiB, agentKiB] = await idleMemory(tcp.get('tunnel')!.echo, f.idleConns, pids);
      // For ssh -R, sshd stands where the relay does (it accepts the public connections) and the ssh client where the agent does.
      const server = new Map<string, number | null>([['tunnel', relayKiB]]);
      const client = new Map<string, number | null>([['tunnel', agentKiB]]);
      for (const c of sshCiphers) {
        progress(`memory: ${f.idleConns} idle connections (${sshColumn(c)})…`);
        const serverPids = ssh!.serverPids();
        const clientPids = ssh!.clientPids(c);
        const kib = await idleMemory(tcp.get(sshColumn(c))!.echo, f.idleConns, [...serverPids, ...clientPids]);
        const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
        server.set(sshColumn(c), sum(kib.slice(0, serverPids.length)));
        client.set(sshColumn(c), sum(kib.slice(serverPids.length)));
      }
      rows.push(row('relay RSS per idle conn', 'KiB', false, server));
      rows.push(row('agent RSS per idle conn', 'KiB', false, client));
    }
    progress('');
    if (f.json) process.stdout.write(JSON.stringify({ cipher: f.cipher, duration: secs, streams: f.streams, columns, rows }, null, 2) + '\n');
    else process.stdout.write(table(rows, f.cipher, sshCiphers.map(sshColumn)));
    return 0;
  } catch (e) {
    progress('');
    process.stderr.write(`relay bench: ${(e as Error).message}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    cleanUp();
    await targets?.close();
  }
}

async function relayReady(relay: Child): Promise<Record<string, unknown>> {
  return relay.wait('relay.ready');
}

function fmt(n: number | null): string {
  if (n === null || Number.isNaN(n)) return '–';
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(n >= 10 ? 1 : 2);
}

/**
 * figure | unit | tunnel | direct | tunnel/direct, and with `--vs ssh` the ssh columns and the
 * tunnel's ratio to each (headed `t/…`, so that the table stays within 120 columns).
 */
function table(rows: Row[], cipher: string, extra: string[]): string {
  const short = (c: string) => c.replace(/^ssh-chacha20-poly1305$/, 'ssh chacha').replace(/^ssh-aes128-gcm$/, 'ssh aes');
  const ratio = (r: Row, col: string) => { const v = r.columns[col]; return v ? (r.tunnel / v).toFixed(2) : '–'; };
  const head = ['figure', 'unit', `tunnel (${cipher})`, 'direct', ...extra.map(short), ...(extra.length ? ['t/direct', ...extra.map((c) => `t/${short(c)}`)] : ['tunnel/direct'])];
  const body = rows.map((r) => [r.figure, r.unit, fmt(r.tunnel), fmt(r.direct), ...extra.map((c) => fmt(r.columns[c])), ratio(r, 'direct'), ...extra.map((c) => ratio(r, c))]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n') + '\n';
}
