// `npx tsx bench/scale.ts [--agents N] [--secs S] [--only memory,rates,routes,bulk] [--json]` (`npm run bench:scale -- …`): what one
// relay process holds and how fast it takes agents (issue 13, docs/performance.md "Scale").
// Build first (npm run build): the relay runs as the CLI, `dist/cli/index.js serve`, in a child
// process, so its RSS (/proc/PID/status VmRSS) and CPU (/proc/PID/stat) are its own and not the
// load generator's. The agents are raw sessions in this process: a Noise IK handshake with a key
// of their own (src/channel) and a mux session (src/mux) that registers TLS names (src/control),
// as `relay agent` does, without the agent's local side.
//
//   memory     N sessions with one tunnel each, then K sessions with 256 tunnels each; relay RSS
//              and V8 heap after a forced full GC (a preload gives the child --expose-gc and
//              answers an IPC message), once the admin gauge relay_agent_sessions shows them all;
//              and the relay's CPU over 20 s (5 s for N ≤ 1000) while the N sessions sit idle (keepalive pings).
//   handshakes N connects + Noise IK with 8, 16 and 32 in flight, until the relay counts the
//              session; wall rate and the relay's own CPU per handshake (steadier: this process
//              competes with the relay for the machine's cores).
//   registers  one register of 1 tunnel on each of those sessions; then K registers of 256.
//   routes     in this process: HostRouter with 100,000 exact names and 100,000 wildcards.
//   bulk       MB/s through a TCP tunnel (relay and `relay agent` as processes) with 1 worker,
//              and with 2 and N when `relay serve --help` lists --workers.
// `--agents 500` is the quick mode (shorter idle and bulk windows: ~40 s); the table used N = 2000. NODE_FLAGS adds
// node flags to the relay processes (NODE_FLAGS=--cpu-prof writes a profile per relay on exit).
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectChannel } from '../src/channel/index.js';
import { decodeKey, generateKeyPair, type KeyPair } from '../src/crypto/index.js';
import { Session } from '../src/mux/index.js';
import { requestRegister, type TunnelRequest } from '../src/control/index.js';
import { HostRouter, type Backend } from '../src/relay/router.js';
import { bulk, startTargets } from '../src/bench/index.js';
import { freePort, parseHostPort, type HostPort } from '../src/net/index.js';

const BIN = fileURLToPath(new URL('../dist/cli/index.js', import.meta.url));
const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('--agents', 2000);
const SECS = arg('--secs', N > 1000 ? 3 : 1.5);
const JSON_OUT = process.argv.includes('--json');
const ONLY = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1].split(',') : null; // e.g. --only rates,routes
const part = (name: string): boolean => ONLY === null || ONLY.includes(name);
const K = Math.max(8, Math.round(N / 50)); // sessions of 256 tunnels
const CONCURRENCY = [8, 16, 32];
const ROUTES = 100_000;
const IDLE_SECS = N > 1000 ? 20 : 5; // two keepalive intervals; sessions ping at staggered times, so a shorter window (quick mode) still sees the rate
const HZ = 100; // USER_HZ: /proc's clock ticks on Linux
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const say = (s: string): void => { process.stderr.write(`${s}\n`); };

// ---------------------------------------------------------------- the relay, a child process

/** In the relay child: answers 'mem' on the IPC channel with process.memoryUsage() after two full GCs. */
const PRELOAD = `process.on('message', (m) => { if (m !== 'mem') return; globalThis.gc(); globalThis.gc(); process.send({ mem: process.memoryUsage() }); });`;

interface Mem { rssKiB: number; heapKiB: number; externalKiB: number }

class RelayProcess {
  readonly proc: ChildProcess;
  private ready: Promise<Record<string, unknown>>;
  private readonly home = mkdtempSync(join(tmpdir(), 'relay-scale-'));
  private stopping = false;

  constructor(args: string[], opts: { preload?: boolean } = {}) {
    chmodSync(this.home, 0o700);
    const node = [...(process.env.NODE_FLAGS ?? '').split(' ').filter(Boolean), ...(opts.preload ? ['--expose-gc', `--import=data:text/javascript,${encodeURIComponent(PRELOAD)}`] : [])];
    this.proc = spawn(process.execPath, [...node, BIN, ...args], { env: { ...process.env, RELAY_HOME: this.home }, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    this.ready = new Promise((resolve, reject) => {
      let buf = '';
      let found = false;
      // Until ready the log is read for its address; after that it is only drained (one line per agent).
      this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
        if (found) return;
        buf += d;
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line.includes('"relay.ready"')) continue;
          found = true;
          buf = '';
          resolve(JSON.parse(line) as Record<string, unknown>);
          return;
        }
      });
      this.proc.once('exit', (code, signal) => {
        if (!found) reject(new Error(`relay exited (${code}) before it was ready`));
        // A relay that dies mid-run leaves figures that mean nothing: stop loudly.
        else if (!this.stopping) { say(`relay exited (${code ?? signal}) during the run`); process.exit(1); }
      });
    });
  }

  async addresses(): Promise<{ agent: HostPort; admin: string | null; publicKey: Buffer; keyText: string }> {
    const r = await this.ready;
    return { agent: parseHostPort(String(r.agent)), admin: typeof r.admin === 'string' ? r.admin : null, publicKey: decodeKey(String(r.publicKey)), keyText: String(r.publicKey) };
  }

  /** The gauge relay_agent_sessions from the admin /metrics. */
  async sessions(): Promise<number> {
    const { admin } = await this.addresses();
    const text = await (await fetch(`http://${admin}/metrics`)).text();
    return Number(/^relay_agent_sessions (\d+)$/m.exec(text)?.[1] ?? NaN);
  }

  /** Polls the gauge every 10 ms until it reads `n`; resolves with the time it did (performance.now()). */
  async untilSessions(n: number, timeoutMs = 60_000): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (await this.sessions() === n) return performance.now();
      if (performance.now() > deadline) throw new Error(`relay_agent_sessions never reached ${n} (${await this.sessions()})`);
      await sleep(10);
    }
  }

  /** Relay memory after two full GCs in the child: VmRSS, V8 heap used, external (Buffers). */
  async mem(): Promise<Mem> {
    const reply = new Promise<NodeJS.MemoryUsage>((resolve) => this.proc.once('message', (m: { mem: NodeJS.MemoryUsage }) => resolve(m.mem)));
    this.proc.send('mem');
    const u = await reply;
    return { rssKiB: rssKiB(this.proc.pid!), heapKiB: u.heapUsed / 1024, externalKiB: u.external / 1024 };
  }

  /** SIGTERM (a drain: the sessions are gone by now), SIGKILL after 3 s. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.proc.exitCode === null) {
      const exited = new Promise((r) => this.proc.once('exit', r));
      this.proc.kill('SIGTERM');
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.home, { recursive: true, force: true });
  }
}

const rssKiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);

/** user + system CPU ms of a process (all its threads) and of its descendants (worker processes, if any). */
function cpuMs(pid: number): number {
  const stat = (p: string): string[] | null => {
    try { const s = readFileSync(`/proc/${p}/stat`, 'utf8'); return s.slice(s.lastIndexOf(')') + 2).split(' '); } catch { return null; }
  };
  const children = new Map<string, string[]>();
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const f = stat(p);
    if (f) (children.get(f[1]) ?? children.set(f[1], []).get(f[1])!).push(p);
  }
  let ticks = 0;
  const walk = (p: string): void => {
    const f = stat(p);
    if (f) ticks += Number(f[11]) + Number(f[12]); // fields 14 and 15: utime, stime
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(String(pid));
  return ticks * 1000 / HZ;
}

// ---------------------------------------------------------------- raw agents

/** Local addresses to connect from: the relay allows 16 unfinished handshakes per source address. */
const SOURCES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);
let nextSource = 0;

/** Connect + Noise IK with its own key: a mux session once the channel is up. */
async function handshake(at: HostPort, relayKey: Buffer, key: KeyPair): Promise<Session> {
  const socket = net.connect({ host: at.host, port: at.port, localAddress: SOURCES[nextSource++ % SOURCES.length], noDelay: true });
  socket.on('error', () => {});
  const channel = await connectChannel(socket, { staticKey: key, remoteStaticKey: relayKey });
  const session = new Session(channel, { role: 'client' });
  session.onClose = () => {};
  return session;
}

/** One register; resolves once `registered` came back with every tunnel live. */
function register(session: Session, tunnels: TunnelRequest[]): Promise<void> {
  return new Promise((resolve, reject) => {
    session.onClose = (err) => reject(err ?? new Error('the relay closed the session before registered'));
    requestRegister(session, tunnels, {
      onResults: (msg) => {
        const bad = msg.tunnels.find((t) => !t.ok);
        if (bad && !bad.ok) reject(new Error(`tunnel ${bad.id} refused: ${bad.code} ${bad.message}`)); else resolve();
      },
      onUpdate: () => {},
      onError: reject,
    });
  });
}

let serial = 0;
/** `count` TLS tunnels with names nobody has used on this relay. */
const tunnels = (count: number): TunnelRequest[] => {
  const s = serial++;
  return Array.from({ length: count }, (_, i) => ({ id: `t${i}`, type: 'tls', hostname: `t${i}.s${s}.scale.test` }));
};

/** Runs `jobs` with at most `inFlight` at once. */
async function pool<T>(count: number, inFlight: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(count);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, async () => {
    while (next < count) { const i = next++; out[i] = await job(i); }
  }));
  return out;
}

const keys = (n: number): KeyPair[] => Array.from({ length: n }, () => generateKeyPair());

async function closeAll(relay: RelayProcess, sessions: Session[], remaining: number): Promise<void> {
  for (const s of sessions) s.destroy();
  sessions.length = 0;
  await relay.untilSessions(remaining);
}

const relayArgs = ['serve', '--allow-any-agent', '--tls-listen', '127.0.0.1:0', '--agent-listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0',
  '--max-agent-sessions', '0', '--no-warmup'];

/** A few hundred sessions opened, registered and closed, so V8 has compiled the path before anything is measured. */
async function warmUp(relay: RelayProcess): Promise<void> {
  const { agent, publicKey } = await relay.addresses();
  const sessions = await pool(200, 16, async () => { const s = await handshake(agent, publicKey, generateKeyPair()); await register(s, tunnels(4)); return s; });
  await relay.untilSessions(200);
  await closeAll(relay, sessions, 0);
}

interface Row { section: string; figure: string; value: number; unit: string; note?: string }
const rows: Row[] = [];
const row = (section: string, figure: string, value: number, unit: string, note?: string): void => {
  rows.push({ section, figure, value, unit, ...(note ? { note } : {}) });
  say(`  ${figure}: ${fmt(value)} ${unit}${note ? ` (${note})` : ''}`);
};
const fmt = (n: number): string => (Number.isNaN(n) ? '–' : Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(Math.abs(n) >= 10 ? 1 : 2));

// ---------------------------------------------------------------- memory per session and per tunnel

async function memory(): Promise<void> {
  say(`memory: ${N} sessions × 1 tunnel, then ${K} sessions × 256 tunnels`);
  const relay = new RelayProcess(relayArgs, { preload: true });
  try {
    const { agent, publicKey } = await relay.addresses();
    await warmUp(relay);
    await sleep(500);
    const m0 = await relay.mem();
    const ones = await pool(N, 16, async () => { const s = await handshake(agent, publicKey, generateKeyPair()); await register(s, tunnels(1)); return s; });
    await relay.untilSessions(N);
    await sleep(1000);
    const m1 = await relay.mem();
    // Idle sessions still cost CPU: each end pings every 10 s (mux keepaliveIntervalMs).
    const idle0 = cpuMs(relay.proc.pid!);
    await sleep(IDLE_SECS * 1000);
    const idleCpu = (cpuMs(relay.proc.pid!) - idle0) / IDLE_SECS;
    const bigs = await pool(K, 8, async () => { const s = await handshake(agent, publicKey, generateKeyPair()); await register(s, tunnels(256)); return s; });
    await relay.untilSessions(N + K);
    await sleep(1000);
    const m2 = await relay.mem();
    const per = (a: Mem, b: Mem, n: number) => ({ rss: (b.rssKiB - a.rssKiB) / n, heap: (b.heapKiB - a.heapKiB) / n, ext: (b.externalKiB - a.externalKiB) / n });
    const session = per(m0, m1, N);
    const big = per(m1, m2, K);
    const tunnel = { rss: (big.rss - session.rss) / 255, heap: (big.heap - session.heap) / 255, ext: (big.ext - session.ext) / 255 };
    row('memory', 'relay RSS at start (after warm-up, GC)', m0.rssKiB / 1024, 'MiB');
    row('memory', `relay RSS with ${N} sessions`, m1.rssKiB / 1024, 'MiB');
    row('memory', 'RSS per session (1 tunnel)', session.rss, 'KiB');
    row('memory', 'V8 heap per session (1 tunnel)', session.heap, 'KiB');
    row('memory', 'external (Buffers) per session', session.ext, 'KiB');
    row('memory', `relay CPU with ${N} idle sessions`, idleCpu / 1000 * 100, '%', `of one core, over ${IDLE_SECS} s`);
    row('memory', 'RSS per session of 256 tunnels', big.rss, 'KiB');
    row('memory', 'RSS per extra tunnel', tunnel.rss, 'KiB', `(256-tunnel session − 1-tunnel session) / 255, ${K} sessions`);
    row('memory', 'V8 heap per extra tunnel', tunnel.heap, 'KiB');
    await closeAll(relay, [...ones, ...bigs], 0);
  } finally {
    await relay.stop();
  }
}

// ---------------------------------------------------------------- handshakes and registrations per second

async function rates(): Promise<void> {
  const relay = new RelayProcess(relayArgs);
  try {
    const { agent, publicKey } = await relay.addresses();
    await warmUp(relay);
    for (const c of CONCURRENCY) {
      say(`handshakes and registers: ${N} sessions, ${c} in flight`);
      const ks = keys(N + K); // made beforehand: key generation is the agent's cost, not the relay's
      let cpu0 = cpuMs(relay.proc.pid!);
      let t0 = performance.now();
      const sessions = await pool(N, c, (i) => handshake(agent, publicKey, ks[i]));
      let t1 = await relay.untilSessions(N);
      let cpu1 = cpuMs(relay.proc.pid!);
      row('handshakes', `handshakes/s, ${c} in flight`, N / ((t1 - t0) / 1000), '/s');
      row('handshakes', `relay CPU per handshake, ${c} in flight`, (cpu1 - cpu0) / N, 'ms');

      const lists = sessions.map(() => tunnels(1));
      cpu0 = cpuMs(relay.proc.pid!);
      t0 = performance.now();
      await pool(N, c, (i) => register(sessions[i], lists[i]));
      t1 = performance.now();
      cpu1 = cpuMs(relay.proc.pid!);
      row('registers', `registers of 1 tunnel/s, ${c} in flight`, N / ((t1 - t0) / 1000), '/s');
      row('registers', `relay CPU per 1-tunnel register, ${c} in flight`, (cpu1 - cpu0) / N, 'ms');

      const bigs = await pool(K, c, (i) => handshake(agent, publicKey, ks[N + i]));
      await relay.untilSessions(N + K);
      const bigLists = bigs.map(() => tunnels(256));
      cpu0 = cpuMs(relay.proc.pid!);
      t0 = performance.now();
      await pool(K, c, (i) => register(bigs[i], bigLists[i]));
      t1 = performance.now();
      cpu1 = cpuMs(relay.proc.pid!);
      row('registers', `tunnels/s in registers of 256, ${c} in flight`, K * 256 / ((t1 - t0) / 1000), '/s');
      row('registers', `relay CPU per tunnel in registers of 256, ${c} in flight`, (cpu1 - cpu0) / (K * 256), 'ms');
      await closeAll(relay, [...sessions, ...bigs], 0);
    }
  } finally {
    await relay.stop();
  }
}

// ---------------------------------------------------------------- route lookups

function routes(): void {
  say(`routes: HostRouter with ${ROUTES.toLocaleString('en-US')} exact names and ${ROUTES.toLocaleString('en-US')} wildcards`);
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const backend: Backend = { streamCount: 0 };
  gc(); gc();
  const heap0 = process.memoryUsage().heapUsed;
  const router = new HostRouter<Backend>();
  // Names shaped like customers' (a label, then a registrable domain of two labels).
  for (let i = 0; i < ROUTES; i++) router.add(`app-${i}.customer${i % 997}.example.com`, backend);
  gc(); gc();
  const heap1 = process.memoryUsage().heapUsed;
  for (let i = 0; i < ROUTES; i++) router.add(`*.tenant-${i}.example.net`, backend);
  gc(); gc();
  const heap2 = process.memoryUsage().heapUsed;
  row('routes', 'router heap per exact name', (heap1 - heap0) / ROUTES, 'B');
  row('routes', 'router heap per wildcard', (heap2 - heap1) / ROUTES, 'B');

  // The relay looks up a name it has just read from ClientHello bytes: a fresh string whose hash
  // V8 has not cached. So each lookup decodes its name from bytes; that decode alone is timed
  // too, and the table gives the lookup net of it.
  const QUERIES = 1 << 16;
  const mk = (f: (i: number) => string): Buffer[] => Array.from({ length: QUERIES }, (_, j) => Buffer.from(f((j * 7919) % ROUTES), 'latin1'));
  const kinds: Array<[string, Buffer[]]> = [
    ['exact hit', mk((i) => `app-${i}.customer${i % 997}.example.com`)],
    ['wildcard hit, 1 label under', mk((i) => `www.tenant-${i}.example.net`)],
    ['wildcard hit, 3 labels under', mk((i) => `a.b.c.tenant-${i}.example.net`)],
    ['miss', mk((i) => `app-${i}.nobody${i % 997}.example.org`)],
  ];
  let sink = 0;
  const time = (qs: Buffer[], look: boolean): number => {
    const t0 = process.hrtime.bigint();
    let n = 0;
    while (process.hrtime.bigint() - t0 < 300_000_000n) {
      for (let j = 0; j < QUERIES; j++) {
        const name = qs[j].toString('latin1');
        if (look) { if (router.lookup(name)) sink++; } else sink += name.length;
      }
      n += QUERIES;
    }
    return Number(process.hrtime.bigint() - t0) / n;
  };
  for (const [, qs] of kinds) { time(qs, true); time(qs, false); } // warm both loops
  for (const [label, qs] of kinds) {
    const gross = time(qs, true);
    const decode = time(qs, false);
    const net = gross - decode;
    row('routes', `lookup, ${label}`, 1e9 / net, 'ops/s', `${net.toFixed(0)} ns net; ${gross.toFixed(0)} ns with the decode of the name`);
  }
  if (sink < 0) say('unreachable'); // keeps the loops' work observable
}

// ---------------------------------------------------------------- throughput by workers

async function throughput(): Promise<void> {
  const help = spawnSync(process.execPath, [BIN, 'serve', '--help'], { encoding: 'utf8' }).stdout;
  const hasWorkers = help.includes('--workers');
  const n = cpus().length;
  const counts = hasWorkers ? [...new Set([1, 2, n])] : [1];
  if (!hasWorkers) say('bulk: `relay serve --help` lists no --workers: only the 1-worker rows (the relay as it is)');
  const targets = await startTargets();
  try {
    for (const w of counts) {
      const port = await freePort();
      const relay = new RelayProcess(['serve', '--allow-any-agent', '--tls-listen', 'off', '--agent-listen', '127.0.0.1:0', '--admin-listen', 'off',
        '--tcp-ports', `${port}-${port}`, '--tcp-host', '127.0.0.1', ...(hasWorkers ? ['--workers', String(w)] : [])]);
      const home = mkdtempSync(join(tmpdir(), 'relay-scale-agent-'));
      chmodSync(home, 0o700);
      let agent: ChildProcess | null = null;
      try {
        const { agent: at, keyText } = await relay.addresses();
        agent = spawn(process.execPath, [BIN, 'agent', '--relay', `${at.host}:${at.port}`, '--relay-key', keyText,
          '--tcp', `${port}=127.0.0.1:${targets.sinkPort}`], { env: { ...process.env, RELAY_HOME: home }, stdio: ['ignore', 'pipe', 'inherit'] });
        await new Promise<void>((resolve, reject) => {
          let buf = '';
          agent!.stdout!.setEncoding('utf8').on('data', (d: string) => { buf += d; if (buf.includes('"tunnel.ready"')) { buf = ''; resolve(); } });
          agent!.once('exit', (code) => reject(new Error(`agent exited (${code})`)));
        });
        if (w > 1) await sleep(1000); // the agent holds a session per worker: let the others register too
        for (const streams of [1, 8]) {
          say(`bulk: ${w} worker(s), ${streams} stream(s), ${SECS} s`);
          const cpu0 = cpuMs(relay.proc.pid!);
          const mbs = await bulk({ host: '127.0.0.1', port }, streams, SECS, () => targets.sinkBytes());
          const cpu1 = cpuMs(relay.proc.pid!);
          // bulk runs 0.5 s of warm-up before it counts: the CPU is over SECS + 0.5 s at about this rate
          const mb = mbs * (SECS + 0.5);
          row('bulk', `${w} worker${w > 1 ? 's' : ''}, ${streams} stream${streams > 1 ? 's' : ''}`, mbs, 'MB/s', `relay CPU ${((cpu1 - cpu0) / mb * 100).toFixed(0)} ms per 100 MB`);
        }
      } finally {
        agent?.kill('SIGKILL');
        await relay.stop();
        rmSync(home, { recursive: true, force: true });
      }
    }
  } finally {
    await targets.close();
  }
  if (!hasWorkers) rows.push({ section: 'bulk', figure: '2 and N workers', value: NaN, unit: 'MB/s', note: 'not measured: relay serve has no --workers yet' });
}

// ---------------------------------------------------------------- fleet arithmetic

function fleet(): void {
  const get = (figure: string): number => rows.find((r) => r.figure === figure)?.value ?? NaN;
  const kib = get('RSS per session (1 tunnel)');
  const base = get('relay RSS at start (after warm-up, GC)');
  const hs = get('handshakes/s, 16 in flight');
  const cpu = get('relay CPU per handshake, 16 in flight');
  const agents = 100_000;
  say(`fleet: ${agents.toLocaleString('en-US')} sessions on one relay ≈ ${fmt(base + agents * kib / 1024)} MiB RSS; ` +
    `a reconnect storm of ${agents.toLocaleString('en-US')} handshakes ≈ ${fmt(agents / hs)} s at ${fmt(hs)}/s (${fmt(agents * cpu / 1000)} s of relay CPU)`);
}

// ---------------------------------------------------------------- main

const started = Date.now();
say(`scale bench: node ${process.version}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${new Date().toISOString()}, agents ${N}, K ${K}`);
if (part('memory')) await memory();
if (part('rates')) await rates();
if (part('routes')) routes();
if (part('bulk')) await throughput();
if (part('memory') && part('rates')) fleet();
say(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
if (JSON_OUT) {
  process.stdout.write(JSON.stringify({ date: new Date().toISOString(), node: process.version, cores: cpus().length, agents: N, bigSessions: K, rows }, null, 2) + '\n');
} else {
  const w = Math.max(...rows.map((r) => r.figure.length));
  for (const r of rows) process.stdout.write(`${r.figure.padEnd(w)}  ${fmt(r.value).padStart(10)} ${r.unit.padEnd(5)} ${r.note ?? ''}\n`);
}
process.exit(0); // the raw sessions' keepalive timers would hold the loop
