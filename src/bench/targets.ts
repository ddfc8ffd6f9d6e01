import net from 'node:net';

/** Where the bench's own target servers listen, and what the sink has counted. */
export interface Targets { echoPort: number; sinkPort: number; sinkBytes(): number; close(): Promise<void> }

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

/**
 * The far end of every measurement: an echo server (latency, connection rate, idle memory) and a
 * sink that counts what it receives (throughput). Both on loopback, both with TCP_NODELAY.
 */
export async function startTargets(): Promise<Targets> {
  let sunk = 0;
  const conns = new Set<net.Socket>();
  const track = (s: net.Socket) => { conns.add(s); s.setNoDelay(true); s.on('error', () => {}); s.once('close', () => conns.delete(s)); };
  const echo = net.createServer((s) => { track(s); s.pipe(s); });
  const sink = net.createServer((s) => { track(s); s.on('data', (d: Buffer) => { sunk += d.length; }); });
  const [echoPort, sinkPort] = [await listen(echo), await listen(sink)];
  return {
    echoPort, sinkPort,
    sinkBytes: () => sunk,
    close: async () => {
      for (const c of conns) c.destroy();
      await Promise.all([echo, sink].map((s) => new Promise((r) => s.close(r))));
    },
  };
}

