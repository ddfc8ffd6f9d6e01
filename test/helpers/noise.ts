import { createServer, connect, type Server, type Socket } from 'node:net';
import { pino } from 'pino';
import type { Logger } from '../../src/log.js';
import { NoiseError, generateKeyPair, type KeyPair } from '../../src/crypto/index.js';
import { ChannelError, NoiseResponder, type HandshakeError, type NoiseChannel } from '../../src/channel/index.js';

interface Teardown { teardown(fn: () => void | Promise<void>): void }

/** A pino logger whose JSON lines land in `lines`. */
export function captureLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } });
  return { logger, lines };
}

/** Listens on an OS port; every socket ever accepted is destroyed in teardown. */
export async function listen(t: Teardown, onConnection: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onConnection(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  return { server, port: (server.address() as { port: number }).port };
}

/** A client socket to 127.0.0.1:port, destroyed in teardown. */
export function dial(t: Teardown, port: number): Socket {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => {});
  t.teardown(() => { s.destroy(); });
  return s;
}

export interface RelayUnderTest {
  port: number;
  key: KeyPair;
  responder: NoiseResponder;
  lines: Record<string, unknown>[];
  /** The outcome of the next accepted connection's handshake (in arrival order). */
  nextAccept(): Promise<NoiseChannel>;
}

/** A loopback listener whose connections all go through one NoiseResponder. */
export async function relayUnderTest(t: Teardown, opts: Partial<ConstructorParameters<typeof NoiseResponder>[0]> = {}): Promise<RelayUnderTest> {
  const key = opts.staticKey ?? generateKeyPair();
  const { logger, lines } = captureLogger();
  const responder = new NoiseResponder({ logger, ...opts, staticKey: key });
  const outcomes: Promise<NoiseChannel>[] = [];
  const waiters: ((p: Promise<NoiseChannel>) => void)[] = [];
  const { port } = await listen(t, (socket) => {
    const p = responder.accept(socket);
    p.then((ch) => t.teardown(() => ch.destroy()), () => {});
    const w = waiters.shift();
    if (w) w(p); else outcomes.push(p);
  });
  return {
    port, key, responder, lines,
    nextAccept: () => {
      const p = outcomes.shift();
      return p ?? new Promise<NoiseChannel>((r) => waiters.push((q) => r(q)));
    },
  };
}

/**
 * A man in the middle on loopback: forwards both ways, records every byte, and lets a test
 * rewrite chunks (`tamper` gets the direction, the chunk and its offset in that direction's stream).
 */
export async function mitm(t: Teardown, targetPort: number, tamper?: (dir: 'up' | 'down', chunk: Buffer, offset: number) => Buffer) {
  const rec = { up: [] as Buffer[], down: [] as Buffer[] };
  const { port } = await listen(t, (client) => {
    const upstream = dial(t, targetPort);
    let upOff = 0; let downOff = 0;
    client.on('data', (c: Buffer) => { const out = tamper ? tamper('up', c, upOff) : c; upOff += c.length; rec.up.push(Buffer.from(out)); upstream.write(out); });
    upstream.on('data', (c: Buffer) => { const out = tamper ? tamper('down', c, downOff) : c; downOff += c.length; rec.down.push(Buffer.from(out)); client.write(out); });
    client.on('end', () => upstream.end()); upstream.on('end', () => client.end());
    client.on('close', () => upstream.destroy()); upstream.on('close', () => client.destroy());
  });
  return { port, rec };
}

/** Splits a recorded byte stream into its frames, after `skip` plaintext bytes (the preamble). */
export function framesOf(bytes: Buffer, skip: number): Buffer[] {
  const frames: Buffer[] = [];
  let off = skip;
  while (off + 2 <= bytes.length) {
    const len = bytes.readUInt16BE(off);
    if (off + 2 + len > bytes.length) break;
    frames.push(bytes.subarray(off + 2, off + 2 + len));
    off += 2 + len;
  }
  return frames;
}

/** Resolves with the error a channel closes with (undefined for a clean close). */
export function closed(ch: NoiseChannel): Promise<Error | undefined> {
  return new Promise((r) => { ch.onClose = r; });
}

/** Reads exactly n bytes from a socket (or rejects on close). */
export function readBytes(s: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= n) {
        s.off('data', onData); s.off('close', onClose);
        s.pause(); // keep what follows for the next reader
        if (buf.length > n) s.unshift(buf.subarray(n));
        resolve(buf.subarray(0, n));
      }
    };
    const onClose = () => reject(new Error(`closed after ${buf.length} of ${n} bytes`));
    s.on('data', onData); s.once('close', onClose); s.resume();
  });
}

/** The error a handshake rejects with; throws when it resolves, or rejects with anything else. */
export async function rejection(p: Promise<unknown>): Promise<HandshakeError> {
  try { await p; } catch (err) { if (err instanceof ChannelError || err instanceof NoiseError) return err; throw err; }
  throw new Error('expected a rejection');
}

/** Messages in order until `count` have arrived. */
export function collect(ch: NoiseChannel, count: number): Promise<Buffer[]> {
  const got: Buffer[] = [];
  return new Promise((r) => { ch.onMessage = (m) => { got.push(Buffer.from(m)); if (got.length === count) r(got); }; });
}

/** Resolves when the socket closes, with the bytes it received and whether the peer's FIN came. */
export function untilClosed(s: Socket): Promise<{ bytes: number; fin: boolean }> {
  let bytes = 0; let fin = false;
  s.on('data', (c: Buffer) => { bytes += c.length; });
  s.once('end', () => { fin = true; });
  return new Promise((r) => { s.once('close', () => r({ bytes, fin })); });
}
