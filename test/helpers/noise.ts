import { createServer, connect, type Server, type Socket } from 'node:net';
import type { Test } from 'tap';

/** A loopback listener on an OS port plus a connected client socket; both closed in teardown. */
export async function socketPair(t: Test): Promise<{ client: Socket; server: Socket; listener: Server }> {
  const listener = createServer();
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  const { port } = listener.address() as { port: number };
  const accepted = new Promise<Socket>((r) => listener.once('connection', r));
  const client = connect(port, '127.0.0.1');
  const server = await accepted;
  t.teardown(() => { client.destroy(); server.destroy(); listener.close(); });
  return { client, server, listener };
}

/** Resolves on the next 'connection' of a listener. */
export function nextConnection(listener: Server): Promise<Socket> {
  return new Promise((r) => listener.once('connection', r));
}
