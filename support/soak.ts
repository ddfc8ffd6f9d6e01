import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, chmodSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FaultProxy } from './fault-proxy.js';

const BIN = fileURLToPath(new URL('../dist/cli/index.js', import.meta.url));

interface SoakSample { second: number; relay: { rssMiB: number; fds: number }; agent: { rssMiB: number; fds: number }; shortConns: number; failures: number; slowBytes: number; reconnects: number }
interface SoakOptions { seconds: number; reconnectEveryMs?: number; sampleEveryMs?: number; onSample?: (s: SoakSample) => void }

const rssMiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
const fds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

/** A relay or agent started through the CLI, with its JSON log lines watched for one event. */
function start(args: string[], home: string): { proc: ChildProcess; event: (name: string) => Promise<Record<string, unknown>> } {
  const proc = spawn(process.execPath, [BIN, ...args, '--no-warmup'], { env: { ...process.env, RELAY_HOME: home }, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  let buf = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      try { lines.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>); } catch { /* not JSON */ }
      buf = buf.slice(nl + 1);
    }
    for (const w of waiters.splice(0)) w();
  });
  const event = async (name: string): Promise<Record<string, unknown>> => {
    for (;;) {
      const l = lines.find((x) => x.event === name);
      if (l) return l;
      if (proc.exitCode !== null) throw new Error(`${args[0]} exited before ${name}`);
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  return { proc, event };
}

/**
 * A soak: a relay and an agent (real processes, loopback) whose link is reset every few seconds
 * (the agent reconnects each time), many short connections through a TCP tunnel, and one slow
 * reader on a long transfer, while the relay's and the agent's RSS and descriptors are sampled.
 * Resolves with the samples and one taken after the load has stopped and every client closed.
 */
export async function soak(opts: SoakOptions): Promise<{ samples: SoakSample[]; after: SoakSample }> {
  const home = mkdtempSync(join(tmpdir(), 'relay-soak-'));
  chmodSync(home, 0o700);
  const servers: net.Server[] = [];
  const clients = new Set<net.Socket>();
  const serve = async (onSocket: (s: net.Socket) => void): Promise<number> => {
    const s = net.createServer((c) => { c.on('error', () => {}); onSocket(c); });
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return (s.address() as net.AddressInfo).port;
  };
  const echoPort = await serve((c) => c.pipe(c));
  const chunk = Buffer.alloc(64 * 1024, 0x73);
  const sourcePort = await serve((c) => { const pump = (): void => { while (!c.destroyed && c.write(chunk)) { /* fill */ } }; c.on('drain', pump); pump(); });
  const free = async (): Promise<number> => { const p = await serve(() => {}); servers.pop()!.close(); return p; };
  const [echoTcp, sourceTcp] = [await free(), await free()];
  const relay = start(['serve', '--allow-any-agent', '--tls-listen', 'off', '--admin-listen', 'off', '--agent-listen', '127.0.0.1:0',
    '--tcp-ports', `${Math.min(echoTcp, sourceTcp)}-${Math.max(echoTcp, sourceTcp)}`, '--tcp-host', '127.0.0.1'], home);
  const ready = await relay.event('relay.ready');
  const proxy = await FaultProxy.start({ teardown: () => {} }, Number(String(ready.agent).split(':').pop()));
  const agent = start(['agent', '--relay', `127.0.0.1:${proxy.port}`, '--relay-key', String(ready.publicKey),
    '--tcp', `${echoTcp}=127.0.0.1:${echoPort}`, '--tcp', `${sourceTcp}=127.0.0.1:${sourcePort}`], home);
  await agent.event('tunnel.ready');
  let running = true;
  const stats = { shortConns: 0, failures: 0, slowBytes: 0, reconnects: 0 };
  const shortLoop = async (): Promise<void> => {
    while (running) {
      const ok = await new Promise<boolean>((resolve) => {
        const c = net.connect(echoTcp, '127.0.0.1');
        clients.add(c);
        c.on('error', () => {});
        c.once('data', () => { c.end(); resolve(true); });
        c.once('close', () => { clients.delete(c); resolve(false); });
        c.write('ping');
      });
      if (ok) stats.shortConns++; else stats.failures++;
      if (!ok) await new Promise((r) => setTimeout(r, 50)); // the tunnel is coming back
    }
  };
  const slowReader = async (): Promise<void> => {
    while (running) {
      await new Promise<void>((resolve) => {
        const c = net.connect(sourceTcp, '127.0.0.1');
        clients.add(c);
        c.on('error', () => {});
        c.on('data', (d: Buffer) => { stats.slowBytes += d.length; c.pause(); setTimeout(() => c.resume(), 30); }); // about 2 MB/s
        c.once('close', () => { clients.delete(c); resolve(); });
        const stop = setInterval(() => { if (!running) { clearInterval(stop); c.destroy(); } }, 100);
        c.once('close', () => clearInterval(stop));
      });
      if (running) await new Promise((r) => setTimeout(r, 50));
    }
  };
  const sample = (second: number): SoakSample => ({
    second, ...stats,
    relay: { rssMiB: rssMiB(relay.proc.pid!), fds: fds(relay.proc.pid!) },
    agent: { rssMiB: rssMiB(agent.proc.pid!), fds: fds(agent.proc.pid!) },
  });
  const samples: SoakSample[] = [];
  const started = Date.now();
  const loops = [...Array.from({ length: 8 }, shortLoop), slowReader()];
  const reconnect = setInterval(() => { proxy.reset(); stats.reconnects++; }, opts.reconnectEveryMs ?? 3000);
  const sampler = setInterval(() => { const s = sample(Math.round((Date.now() - started) / 1000)); samples.push(s); opts.onSample?.(s); }, opts.sampleEveryMs ?? 1000);
  await new Promise((r) => setTimeout(r, opts.seconds * 1000));
  running = false;
  clearInterval(reconnect);
  clearInterval(sampler);
  await Promise.all(loops);
  const after = sample(Math.round((Date.now() - started) / 1000));
  relay.proc.kill('SIGKILL');
  agent.proc.kill('SIGKILL');
  proxy.close();
  for (const s of servers) s.close();
  return { samples, after };
}
