import { spawn } from 'node:child_process';
import { once } from 'node:events';

/**
 * A loopback port whose listener never accepts and has no backlog: connections to it stay in
 * SYN_SENT (the kernel drops the SYNs) until the dialer gives up. A service too slow to accept, as
 * a real one under load can be. Python, because Node always accepts what its listener queues.
 */
export async function blackHole(t: { teardown: (fn: () => unknown) => void }): Promise<number> {
  const py = spawn('python3', ['-c', [
    'import socket, sys, time',
    's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
    // Fill the accept queue itself, so that every later SYN is dropped.
    'fill = [socket.socket() for _ in range(4)]',
    '[(c.setblocking(False), c.connect_ex(s.getsockname())) for c in fill]',
    'time.sleep(0.2)',
    'print(s.getsockname()[1], flush=True)',
    'time.sleep(600)',
  ].join('\n')], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => py.kill('SIGKILL'));
  const [line] = (await once(py.stdout, 'data')) as [Buffer];
  return Number(line.toString().trim());
}
