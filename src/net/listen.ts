import type net from 'node:net';
import { formatHostPort, type HostPort } from './address.js';

/** Listens on `addr` and resolves with `HOST:PORT` as bound (port 0 gets one from the OS). */
export function listen(server: net.Server, addr: HostPort): Promise<string> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once('error', onError);
    server.listen(addr.port, addr.host, () => {
      server.off('error', onError);
      const a = server.address() as net.AddressInfo;
      resolve(formatHostPort(a.address, a.port));
    });
  });
}
