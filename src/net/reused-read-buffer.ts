import { Socket, type SocketConstructorOpts } from 'node:net';

/** Takes the bytes of one read, a view into the socket's buffer that the next read overwrites. */
export type BytesHandler = (view: Buffer) => void;

interface ReadTarget { handler: BytesHandler | null }
const targets = new WeakMap<Socket, ReadTarget>();

/**
 * A TCP socket that reads into one buffer of its own (Node's `onread`), so a read allocates
 * nothing, and, with a buffer larger than Node's 64 KiB, a busy connection takes several Noise
 * messages per read syscall (docs/performance.md, splice path, round 2).
 *
 * Until a consumer claims the reads with `setBytesHandler`, each is handed out as an ordinary
 * 'data' event carrying a copy, so code written for any socket (the Noise handshake) works
 * unchanged. Pause, resume, 'end' and backpressure behave as on any socket.
 */
export function createReusedBufferSocket(bufferSize: number, opts: SocketConstructorOpts = {}): Socket {
  const buffer = Buffer.allocUnsafeSlow(bufferSize);
  const target: ReadTarget = { handler: null }; // read by the callback directly: no lookup per read
  const socket: Socket = new Socket({
    ...opts,
    onread: {
      buffer,
      callback: (n: number): void => {
        const view = buffer.subarray(0, n);
        if (target.handler) target.handler(view);
        else socket.emit('data', Buffer.from(view));
      },
    },
  } as SocketConstructorOpts);
  targets.set(socket, target);
  return socket;
}

/** True for sockets made by `createReusedBufferSocket`. */
export function readsIntoReusedBuffer(socket: Socket): boolean {
  return targets.has(socket);
}

/** Hands every later read to `handler` as a view (no copy, no 'data' event). */
export function setBytesHandler(socket: Socket, handler: BytesHandler): void {
  const target = targets.get(socket);
  if (!target) throw new TypeError('setBytesHandler: not a reused-buffer socket');
  target.handler = handler;
}
