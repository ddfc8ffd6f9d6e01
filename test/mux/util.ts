import { createHash } from 'node:crypto';
import { channelPair, type ChannelPair } from '../../support/index.js';
import { Session, type MuxConfig, type MuxError, type SendBudget, type Stream } from '../../src/mux/index.js';

export interface SessionPair {
  pair: ChannelPair;
  client: Session;
  server: Session;
  /** Resolves with each session's onClose argument. */
  clientClosed: Promise<MuxError | undefined>;
  serverClosed: Promise<MuxError | undefined>;
  close(): void;
}

export async function sessionPair(config: Partial<MuxConfig> = {}, serverConfig: Partial<MuxConfig> = config, clientBudget?: SendBudget): Promise<SessionPair> {
  const pair = await channelPair();
  const client = new Session(pair.a, { role: 'client', config, sendBudget: clientBudget });
  const server = new Session(pair.b, { role: 'server', config: serverConfig });
  const clientClosed = new Promise<MuxError | undefined>((r) => (client.onClose = r));
  const serverClosed = new Promise<MuxError | undefined>((r) => (server.onClose = r));
  return {
    pair,
    client,
    server,
    clientClosed,
    serverClosed,
    close() {
      client.destroy();
      server.destroy();
      pair.close();
    },
  };
}

export interface Received {
  hash: string;
  bytes: number;
  ended: boolean;
  error: Error | undefined;
}

/** Reads a stream to its close, hashing what arrives. */
export function drain(stream: Stream, onEnd?: () => void): Promise<Received> {
  const h = createHash('sha256');
  let bytes = 0;
  let ended = false;
  return new Promise((resolve) => {
    stream.onData = (c) => {
      h.update(c);
      bytes += c.length;
    };
    stream.onEnd = () => {
      ended = true;
      onEnd?.();
    };
    stream.onClose = (error) => resolve({ hash: h.digest('hex'), bytes, ended, error });
    stream.resume();
  });
}

/** Writes `data` in `chunk`-sized views, honouring backpressure, then ends unless told not to. */
export function pump(stream: Stream, data: Buffer, chunk = 64 * 1024, end = true): Promise<void> {
  let off = 0;
  return new Promise((resolve) => {
    const go = (): void => {
      while (off < data.length) {
        const c = data.subarray(off, Math.min(off + chunk, data.length));
        off += c.length;
        if (!stream.write(c)) return;
      }
      if (end) stream.end();
      resolve();
    };
    stream.onDrain = go;
    go();
  });
}
