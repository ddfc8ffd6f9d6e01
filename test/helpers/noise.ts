import { createServer } from 'node:net';
import { NoiseError, generateKeyPair, type KeyPair } from '../../src/crypto/index.js';
import { ChannelError, NoiseResponder, type HandshakeError, type NoiseChannel } from '../../src/channel/index.js';
import { captureLogger, type LogLine } from './log.js';
import { dial, listen, type Teardown } from './net.js';

export interface RelayUnderTest {
  port: number;
  key: KeyPair;
  responder: NoiseResponder;
  lines: LogLine[];
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
  const port = await listen(createServer((socket) => {
    const p = responder.accept(socket);
    p.then((ch) => t.teardown(() => ch.destroy()), () => {});
    const w = waiters.shift();
    if (w) w(p); else outcomes.push(p);
  }), t);
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
  const port = await listen(createServer((client) => {
    const upstream = dial(t, targetPort);
    let upOff = 0; let downOff = 0;
    client.on('data', (c: Buffer) => { const out = tamper ? tamper('up', c, upOff) : c; upOff += c.length; rec.up.push(Buffer.from(out)); upstream.write(out); });
    upstream.on('data', (c: Buffer) => { const out = tamper ? tamper('down', c, downOff) : c; downOff += c.length; rec.down.push(Buffer.from(out)); client.write(out); });
    client.on('end', () => upstream.end()); upstream.on('end', () => client.end());
    client.on('close', () => upstream.destroy()); upstream.on('close', () => client.destroy());
  }), t);
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
