import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempHome, type Teardown } from './net.js';

// Debian installs it in /usr/sbin, which a non-root PATH may lack. CI installs the package
// (.ci/run); a machine without it fails here rather than skipping.
const HAPROXY = existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy';

/**
 * Runs HAProxy in the foreground with `sections` (frontends, backends) after a small TCP-mode
 * global/defaults block; master-worker, so that it says when it is ready: the master prints
 * "Loading success." once its worker runs, with the listeners bound. Stopped at teardown.
 */
export async function startHaproxy(t: Teardown, sections: string[]): Promise<void> {
  const dir = tempHome(t);
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, [
    'global', '  nbthread 1',
    'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 30s', '  timeout server 30s',
    ...sections, '',
  ].join('\n'));
  const child = spawn(HAPROXY, ['-W', '-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM'); // the master stops its worker
    await exited;
  });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (stderr.includes('Loading success.')) resolve();
    });
    child.once('error', (e) => reject(new Error(`cannot run ${HAPROXY} (Debian package haproxy): ${e.message}`)));
    child.once('exit', (code) => reject(new Error(`haproxy exited (${code}) before it was ready: ${stderr.slice(-800)}`)));
  });
}
