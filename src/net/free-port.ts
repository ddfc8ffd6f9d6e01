import net from 'node:net';

// Below Linux's ephemeral range (32768–60999 by default), so no socket's OS-chosen port can
// take it between this check and the caller's bind (a relay binds its ports after its warm-up,
// which opens loopback sockets of its own); above the --dev range 20000–20099.
const LOW = 21000;
const HIGH = 32000;

/** A loopback port that was free just now, for flags that take a fixed port (tests, `relay bench`). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, host, () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error(`no free port in ${LOW}-${HIGH} on ${host}`);
}
