import net from 'node:net';

/**
 * A loopback port the OS just handed out (bound, then released), for flags that take a fixed
 * port (tests, `relay bench`). Bind it soon: until then another socket may be given it. (This is
 * why `relay serve` binds its listeners before its warm-up opens loopback sockets of its own.)
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, host, () => resolve());
  });
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}
