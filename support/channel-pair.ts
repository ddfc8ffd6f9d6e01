import net from 'node:net';
import { once } from 'node:events';
import type { MessageChannel } from '../src/channel/message-channel.js';
import { connectChannel, NoiseResponder } from '../src/channel/index.js';
import { generateKeyPair } from '../src/crypto/keys.js';
import { PlaintextChannelForTestsOnly } from './plain-channel.js';

export interface ChannelPair {
  /** The connecting side (Noise initiator; mux role 'client'). */
  a: MessageChannel;
  /** The accepting side (Noise responder; mux role 'server'). */
  b: MessageChannel;
  /** The TCP sockets under a and b, for tests that cut the connection. */
  sockets: { a: net.Socket; b: net.Socket };
  close(): void;
}

async function socketPair(): Promise<{ sa: net.Socket; sb: net.Socket }> {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const sa = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true, noDelay: true });
  await once(sa, 'connect');
  const [sb] = await accepted;
  server.close();
  return { sa, sb };
}

/** Two connected Noise channels (Noise_IK, ChaChaPoly) over a real 127.0.0.1 TCP connection. */
export async function channelPair(): Promise<ChannelPair> {
  const { sa, sb } = await socketPair();
  const relayKey = generateKeyPair();
  const responder = new NoiseResponder({ staticKey: relayKey });
  const [a, b] = await Promise.all([
    connectChannel(sa, { staticKey: generateKeyPair(), remoteStaticKey: relayKey.publicKey }),
    responder.accept(sb),
  ]);
  return {
    a,
    b,
    sockets: { a: sa, b: sb },
    close() {
      sa.destroy();
      sb.destroy();
    },
  };
}

/** The same over the plaintext test channel (for benchmarks comparing the mux alone). */
export async function plaintextChannelPair(): Promise<ChannelPair> {
  const { sa, sb } = await socketPair();
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
