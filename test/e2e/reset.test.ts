// A reset on either side arrives as a reset on the other, never as a clean end: whichever end
// resets, whether the relay's or the agent's socket is paused (backpressure) or flowing when the
// RST lands, over both routes. Clients and services in Python as well as Node: Python's socket
// reports a reset as ConnectionResetError whether it was reading or not.
import t from 'tap';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { startDevRelay, startAgent, portOf } from '../helpers/proc.js';
import { endingOf, freePort, listen } from '../helpers/net.js';
import { runPython } from '../helpers/py.js';
import type { LogLine } from '../helpers/log.js';
import { buildClientHello } from '../../src/bench/client-hello.js';

const MB = 1024 * 1024;
const NAME = 'reset.example.test';

/** A slow reader: waits (so that backpressure reaches the far end), then reads until EOF or reset. */
const SLOW_READ = `
def slow_read(s):
    import time
    time.sleep(1.0)
    got = 0
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return 'eof', got
            got += len(d)
            time.sleep(0.002)
    except ConnectionResetError:
        return 'reset', got
`;

const PY_CLIENT_READS = `${SLOW_READ}
import socket, sys, json
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
if sys.argv[2]: s.sendall(bytes.fromhex(sys.argv[2]))
outcome, got = slow_read(s)
print(json.dumps({'outcome': outcome, 'got': got}))
`;

const PY_CLIENT_RESETS = `
import socket, sys, json, struct, time
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
if sys.argv[2]: s.sendall(bytes.fromhex(sys.argv[2]))
s.setblocking(False)
sent = 0
chunk = b'u' * 65536
deadline = time.time() + 1.0
while time.time() < deadline and sent < 20 * 1024 * 1024:
    try:
        sent += s.send(chunk)
    except BlockingIOError:
        time.sleep(0.01)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
s.close()
print(json.dumps({'sent': sent}))
`;

/** A service that reads each connection slowly and prints how it ended, one JSON line each. */
const PY_SERVICE_READS = `${SLOW_READ}
import socket, sys, json
srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(16)
print(srv.getsockname()[1], flush=True)
while True:
    c, _ = srv.accept()
    outcome, got = slow_read(c)
    c.close()
    print(json.dumps({'outcome': outcome, 'got': got}), flush=True)
`;

/** The Python service above: its port, and the next connection's outcome. */
async function pythonService(t: { teardown: (fn: () => unknown) => void }): Promise<{ port: number; next: () => Promise<{ outcome: string; got: number }> }> {
  const py = spawn('python3', ['-c', PY_SERVICE_READS], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => py.kill('SIGKILL'));
  const lines: string[] = [];
  const waiters: Array<(l: string) => void> = [];
  let buf = '';
  py.stdout.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl); buf = buf.slice(nl + 1);
      const w = waiters.shift();
      if (w) w(line); else lines.push(line);
    }
  });
  const nextLine = (): Promise<string> => Promise.resolve(lines.shift() ?? new Promise<string>((r) => waiters.push(r)));
  const port = Number(await nextLine());
  return { port, next: async () => JSON.parse(await nextLine()) as { outcome: string; got: number } };
}

/** A Node service that sends `bytes` and then resets (SO_LINGER 0) a moment later. */
async function resettingService(t: { teardown: (fn: () => unknown) => void }, bytes: number): Promise<number> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.on('data', () => {});
    s.write(Buffer.alloc(bytes, 0x61));
    setTimeout(() => s.resetAndDestroy(), 300);
  });
  const port = await listen(server, t);
  return port;
}

/** A Node client that reads as fast as it can and reports how the connection ended. */
function nodeClientReads(port: number, hello: Buffer | null): Promise<{ outcome: string; got: number }> {
  const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  if (hello) c.write(hello);
  let got = 0;
  c.on('data', (d: Buffer) => { got += d.length; });
  return endingOf(c).then((outcome) => ({ outcome, got }));
}

/** A Node client that uploads until it is held back, then resets. */
function nodeClientResets(port: number, hello: Buffer | null): Promise<void> {
  const c = net.connect(port, '127.0.0.1');
  c.on('error', () => {});
  if (hello) c.write(hello);
  const chunk = Buffer.alloc(64 * 1024, 0x75);
  for (let i = 0; i < 160; i++) c.write(chunk); // 10 MiB, most of it waiting in Node's buffer
  return new Promise((resolve) => setTimeout(() => { c.resetAndDestroy(); resolve(); }, 1000));
}

t.test('a reset stays a reset, both ways, both routes, Python and Node at the ends', { timeout: 120_000 }, async (t) => {
  const resetting = await resettingService(t, 10 * MB);
  const slow = await pythonService(t);
  const [tcpResetting, tcpSlow] = [await freePort(), await freePort()];
  const { ready } = await startDevRelay(t, ['--tcp-ports', `${Math.min(tcpResetting, tcpSlow)}-${Math.max(tcpResetting, tcpSlow)}`]);
  // One agent, two services: one that resets after sending, one that reads slowly.
  const agent = startAgent(t, ready, ['--no-warmup',
    '--tcp', `${tcpResetting}=127.0.0.1:${resetting}`, '--tcp', `${tcpSlow}=127.0.0.1:${slow.port}`,
    '--tls', `${NAME}=127.0.0.1:${resetting}`, '--tls', `up.${NAME}=127.0.0.1:${slow.port}`]);
  const tunnels: Array<(l: LogLine) => boolean> = [(l) => l.port === tcpResetting, (l) => l.port === tcpSlow,
    (l) => l.hostname === NAME, (l) => l.hostname === `up.${NAME}`];
  for (const live of tunnels) await agent.waitEvent('tunnel.ready', live);
  const tls = portOf(ready.tls);
  const routes = [
    { route: 'tcp', down: tcpResetting, up: tcpSlow, downHello: null, upHello: null },
    { route: 'tls', down: tls, up: tls, downHello: buildClientHello(NAME), upHello: buildClientHello(`up.${NAME}`) },
  ];
  for (const r of routes) {
    for (let run = 1; run <= 2; run++) {
      const py = await runPython(PY_CLIENT_READS, [String(r.down), r.downHello?.toString('hex') ?? '']);
      t.equal(py.outcome, 'reset', `${r.route}, service resets, slow Python client (run ${run}): reset after ${String(py.got)} bytes`);
      const node = await nodeClientReads(r.down, r.downHello);
      t.equal(node.outcome, 'reset', `${r.route}, service resets, Node client (run ${run}): reset after ${node.got} bytes`);
      await runPython(PY_CLIENT_RESETS, [String(r.up), r.upHello?.toString('hex') ?? '']);
      const seen = await slow.next();
      t.equal(seen.outcome, 'reset', `${r.route}, Python client resets mid-upload, slow service (run ${run}): reset after ${seen.got} bytes`);
      await nodeClientResets(r.up, r.upHello);
      const seen2 = await slow.next();
      t.equal(seen2.outcome, 'reset', `${r.route}, Node client resets mid-upload, slow service (run ${run}): reset after ${seen2.got} bytes`);
    }
  }
});
