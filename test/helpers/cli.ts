import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

/** The built CLI, exactly what `bin.relay` points at (npm test builds first: `pretest`). */
export const RELAY_BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/cli/index.js');

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

/** Starts `relay ARGS` in the background; the caller must stop it (t.teardown). */
export function startRelay(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  return spawn(process.execPath, [RELAY_BIN, ...args], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
}
