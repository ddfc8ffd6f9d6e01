import { spawn } from 'node:child_process';

/**
 * Runs a Python script (a client or service that is not Node: Python's socket reports a
 * connection reset as ConnectionResetError whether it was reading or not) and resolves with the
 * JSON object it prints last. `onLine` sees each earlier line (e.g. a port it listens on).
 */
export function runPython(script: string, args: string[], onLine?: (line: string) => void): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const py = spawn('python3', ['-c', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    py.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      for (let nl = out.indexOf('\n'); nl >= 0 && onLine; nl = out.indexOf('\n')) {
        const line = out.slice(0, nl);
        if (!line.startsWith('{')) { onLine(line); out = out.slice(nl + 1); } else break;
      }
    });
    py.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    py.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      try { resolve(JSON.parse(last) as Record<string, unknown>); } catch { reject(new Error(`python exited ${code}: ${err.slice(-500)} ${out.slice(-200)}`)); }
    });
  });
}
