import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { freePort, tempHome, type Teardown } from './net.js';
import { LogLines, type LogLine } from './log.js';

/** The built CLI, exactly what `bin.relay` points at (npm test builds first: `pretest`). */
const RELAY_BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/cli/index.js');

export interface RunResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Runs `relay ARGS` to completion and collects its output. */
export function runRelay(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [RELAY_BIN, ...args], {
      env: { ...process.env, ...opts.env }, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = ''; let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * A `relay` process started through the real CLI, with its JSON log lines parsed as they come.
 * `waitEvent` resolves on the first (or next) line matching; it rejects if the process exits
 * first, so a test never hangs on a dead process.
 */
export class RelayProcess {
  readonly child: ChildProcess;
  private readonly log = new LogLines();
  readonly lines: LogLine[] = this.log.lines;
  /** The first line (from index `from`) whose `event` is `event` and that passes `where`. */
  readonly waitEvent = this.log.waitEvent;
  stderr = '';
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
        this.log.push(line);
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.stderr += d; });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => {
      this.log.end(new Error(`relay ${args[0]} exited (${code ?? signal}) before the awaited line; stderr: ${this.stderr.slice(-500)}; last lines: ${JSON.stringify(this.lines.slice(-5))}`));
      resolve({ code, signal });
    }));
  }

  /** Sends a signal and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

/** `host:port` → port */
export function portOf(addr: unknown): number {
  return Number(String(addr).split(':').pop());
}

/** Starts a development relay on loopback (ports from the OS) and waits for relay.ready. */
export async function startDevRelay(t: Teardown, extra: string[] = [], home = tempHome()): Promise<{ relay: RelayProcess; ready: LogLine; home: string }> {
  const relay = new RelayProcess(['serve', '--allow-any-agent', '--tls-listen', '127.0.0.1:0', '--agent-listen', '127.0.0.1:0',
    '--admin-listen', '127.0.0.1:0', ...extra], { RELAY_HOME: home });
  t.teardown(() => relay.stop('SIGKILL'));
  const ready = await relay.waitEvent('relay.ready');
  return { relay, ready, home };
}

/** Starts an agent against `ready` (a relay.ready line) with the given tunnel flags. */
export function startAgent(t: Teardown, ready: LogLine, flags: string[], home = tempHome()): RelayProcess {
  const agent = new RelayProcess(['agent', '--relay', String(ready.agent), '--relay-key', String(ready.publicKey), ...flags], { RELAY_HOME: home });
  t.teardown(() => agent.stop('SIGKILL'));
  return agent;
}

/**
 * A development relay with one TCP tunnel port (from the OS) and an agent whose TCP tunnel to
 * `targetPort` is live: the setup most TCP tests share.
 */
export async function startTcpTunnel(t: Teardown, targetPort: number, relayExtra: string[] = []): Promise<{ relay: RelayProcess; ready: LogLine; agent: RelayProcess; tunnel: LogLine; tcpPort: number }> {
  const tcpPort = await freePort();
  const { relay, ready } = await startDevRelay(t, ['--tcp-ports', `${tcpPort}-${tcpPort}`, ...relayExtra]);
  const agent = startAgent(t, ready, ['--tcp', `127.0.0.1:${targetPort}`]);
  const tunnel = await agent.waitEvent('tunnel.ready');
  return { relay, ready, agent, tunnel, tcpPort };
}
