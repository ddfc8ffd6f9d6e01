import net from 'node:net';

interface Teardown { teardown(fn: () => unknown): void }

/**
 * A TCP proxy on loopback that can break the connections through it the ways networks do: cut
 * them (FIN both ways), reset them (RST), drop everything silently (a black hole: bytes are held,
 * never delivered, until `heal()`), or delay every chunk. New connections are forwarded as the
 * current mode says.
 */
export class FaultProxy {
  readonly port: number;
  private mode: 'pass' | 'drop' = 'pass';
  private delayMs = 0;
  private readonly pairs = new Set<[net.Socket, net.Socket]>();

  private constructor(private readonly server: net.Server, port: number) {
    this.port = port;
  }

  static async start(t: Teardown, targetPort: number): Promise<FaultProxy> {
    const server = net.createServer({ allowHalfOpen: true });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const proxy = new FaultProxy(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (a: net.Socket) => proxy.forward(a, targetPort));
    t.teardown(() => proxy.close());
    return proxy;
  }

  /** Closes the listener and every connection through it. */
  close(): void {
    for (const [a, b] of this.pairs) { a.destroy(); b.destroy(); }
    this.server.close();
  }

  /** Connections through the proxy now. */
  get connections(): number { return this.pairs.size; }

  /** FIN both ways on every connection. */
  cut(): void { for (const [a, b] of this.pairs) { a.end(); b.end(); } }

  /** RST both ways on every connection. */
  reset(): void { for (const [a, b] of this.pairs) { a.resetAndDestroy(); b.resetAndDestroy(); } }

  /** Deliver nothing from now on (connections stay open); `heal()` ends it, dropping what was held. */
  drop(): void { this.mode = 'drop'; }

  /** Every chunk waits `ms` before it is passed on. */
  delay(ms: number): void { this.delayMs = ms; }

  /** Back to passing bytes as they come; connections that were black-holed are closed. */
  heal(): void {
    if (this.mode === 'drop') for (const [a, b] of this.pairs) { a.destroy(); b.destroy(); }
    this.mode = 'pass';
    this.delayMs = 0;
  }

  private forward(a: net.Socket, targetPort: number): void {
    const b = net.connect({ port: targetPort, host: '127.0.0.1', allowHalfOpen: true });
    const pair: [net.Socket, net.Socket] = [a, b];
    this.pairs.add(pair);
    const pipe = (from: net.Socket, to: net.Socket): void => {
      from.on('data', (d: Buffer) => {
        if (this.mode === 'drop') return;
        if (this.delayMs > 0) setTimeout(() => { if (!to.destroyed) to.write(d); }, this.delayMs);
        else to.write(d);
      });
      from.on('end', () => { if (this.mode !== 'drop') to.end(); });
      from.on('error', () => {});
      from.on('close', () => { this.pairs.delete(pair); if (this.mode !== 'drop') to.destroy(); });
    };
    pipe(a, b);
    pipe(b, a);
  }
}
