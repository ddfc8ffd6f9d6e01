import net from 'node:net';
import { createReusedBufferSocket } from '../net/index.js';

/** Socket write buffer at either end of the link: a few Noise messages (docs/performance.md). */
const LINK_WRITE_BUFFER = 256 * 1024;
/** The agent's end reads into one buffer this big: several Noise messages a syscall. */
const LINK_READ_BUFFER = 256 * 1024;

/**
 * The agent's end of the link, not yet connected: it reads into one buffer of its own, and its
 * write buffer holds several Noise messages, so the mux is not held back after every message.
 */
export function createLinkSocket(): net.Socket {
  return createReusedBufferSocket(LINK_READ_BUFFER, { writableHighWaterMark: LINK_WRITE_BUFFER } as net.SocketConstructorOpts);
}

/** The relay's end: a listener whose sockets have the link's write buffer and no Nagle delay. */
export function createLinkServer(onSocket: (socket: net.Socket) => void): net.Server {
  return net.createServer({ noDelay: true, highWaterMark: LINK_WRITE_BUFFER }, onSocket);
}
