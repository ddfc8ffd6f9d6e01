import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RELAY_BIN } from './cli.js';
import { freePort } from './net.js';

export type LogLine = Record<string, unknown> & { event?: string; msg?: string };

/**
 * A `relay` process started through the real CLI, with its JSON log lines parsed as they come.
 * `waitEvent` resolves on the first (or next) line matching; it rejects if the process exits
 * first, so a test never hangs on a dead process.
 */
export class RelayProcess {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  stderr = '';
  private waiters: Array<{ match: (l: LogLine) => boolean; from: number; resolve: (l: LogLine) => void; reject: (e: Error) => void }> = [];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [RELAY_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const text = buf.slice(0, nl); buf = buf.slice(nl + 1);
        let line: LogLine;
        try { line = JSON.parse(text) as LogLine; } catch { line = { msg: text }; }
        this.lines.push(line);
        const idx = this.lines.length - 1;
        this.waiters = this.waiters.filter((w) => {
          if (idx >= w.from && w.match(line)) { w.resolve(line); return false; }
          return true;
        });
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.stderr += d; });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => {
      for (const w of this.waiters) w.reject(new Error(`relay ${args[0]} exited (${code ?? signal}) before the awaited line; stderr: ${this.stderr.slice(-500)}; last lines: ${JSON.stringify(this.lines.slice(-5))}`));
      this.waiters = [];
      resolve({ code, signal });
    }));
  }

  /** The first line (from index `from`, default 0) whose `event` is `event` and that passes `where`. */
  waitEvent(event: string, where: (l: LogLine) => boolean = () => true, from = 0): Promise<LogLine> {
    return this.waitLine((l) => l.event === event && where(l), from);
  }

  waitLine(match: (l: LogLine) => boolean, from = 0): Promise<LogLine> {
    for (let i = from; i < this.lines.length; i++) if (match(this.lines[i])) return Promise.resolve(this.lines[i]);
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.reject(new Error('process already exited'));
    return new Promise((resolve, reject) => this.waiters.push({ match, from, resolve, reject }));
  }

  /** Sends a signal and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

/** A fresh 0700 state directory for one test ($RELAY_HOME). */
export function tempHome(): string {
  const d = mkdtempSync(join(tmpdir(), 'relay-test-'));
  chmodSync(d, 0o700);
  return d;
}

/** `host:port` → port */
export function portOf(addr: unknown): number {
  return Number(String(addr).split(':').pop());
}

/** Starts a development relay on loopback (ports from the OS) and waits for relay.ready. */
export async function startDevRelay(t: { teardown: (fn: () => unknown) => void }, extra: string[] = [], home = tempHome()): Promise<{ relay: RelayProcess; ready: LogLine; home: string }> {
  const relay = new RelayProcess(['serve', '--allow-any-agent', '--tls-listen', '127.0.0.1:0', '--agent-listen', '127.0.0.1:0',
    '--admin-listen', '127.0.0.1:0', ...extra], { RELAY_HOME: home });
  t.teardown(() => relay.stop('SIGKILL'));
  const ready = await relay.waitEvent('relay.ready');
  return { relay, ready, home };
}

/** Starts an agent against `ready` (a relay.ready line) with the given tunnel flags. */
export function startAgent(t: { teardown: (fn: () => unknown) => void }, ready: LogLine, flags: string[], home = tempHome()): RelayProcess {
  const agent = new RelayProcess(['agent', '--relay', String(ready.agent), '--relay-key', String(ready.publicKey), ...flags], { RELAY_HOME: home });
  t.teardown(() => agent.stop('SIGKILL'));
  return agent;
}

/**
 * A development relay with one TCP tunnel port (from the OS) and an agent whose TCP tunnel to
 * `targetPort` is live: the setup most TCP tests share.
 */
export async function startTcpTunnel(t: { teardown: (fn: () => unknown) => void }, targetPort: number, relayExtra: string[] = []): Promise<{ relay: RelayProcess; ready: LogLine; agent: RelayProcess; tunnel: LogLine; tcpPort: number }> {
  const tcpPort = await freePort();
  const { relay, ready } = await startDevRelay(t, ['--tcp-ports', `${tcpPort}-${tcpPort}`, ...relayExtra]);
  const agent = startAgent(t, ready, ['--tcp', `127.0.0.1:${targetPort}`]);
  const tunnel = await agent.waitEvent('tunnel.ready');
  return { relay, ready, agent, tunnel, tcpPort };
}
