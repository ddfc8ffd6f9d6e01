import net from 'node:net';
import { once } from 'node:events';
import type { MessageChannel } from '../../src/crypto/message-channel.js';
import { PlaintextChannelForTestsOnly } from './plain-channel.js';

export interface ChannelPair {
  /** The connecting side (mux role 'client'). */
  a: MessageChannel;
  /** The accepting side (mux role 'server'). */
  b: MessageChannel;
  /** The TCP sockets under a and b, for tests that cut the connection. */
  sockets: { a: net.Socket; b: net.Socket };
  close(): void;
}

/** Two connected channels over a real 127.0.0.1 TCP connection. */
export async function channelPair(): Promise<ChannelPair> {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const sa = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true, noDelay: true });
  await once(sa, 'connect');
  const [sb] = await accepted;
  server.close();
  return {
    a: new PlaintextChannelForTestsOnly(sa),
    b: new PlaintextChannelForTestsOnly(sb),
    sockets: { a: sa, b: sb },
    close() {
      sa.destroy();
      sb.destroy();
    },
  };
}
