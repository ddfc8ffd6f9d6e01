import net from 'node:net';
import { connectChannel } from '../../src/channel/initiator.js';
import { decodeKey, generateKeyPair, type KeyPair } from '../../src/crypto/keys.js';
import { Session, type Stream, type MuxError } from '../../src/mux/index.js';
import { CONTROL_TUNNEL_ID, LineDecoder } from '../../src/control/messages.js';

/**
 * A hand-driven agent for hostile-input tests: it completes the real Noise handshake with the
 * given (default: fresh) key and opens the control stream, then sends exactly what the test
 * writes. Lines the relay answers are parsed and can be awaited; so can the session's end.
 */
export interface RawAgent {
  session: Session;
  control: Stream;
  key: KeyPair;
  lines: Array<Record<string, unknown>>;
  /** Writes raw bytes on the control stream. */
  write(text: string): void;
  /** The next (or an already received) answer line, by index. */
  line(index: number): Promise<Record<string, unknown>>;
  /** Resolves when the session ends (with its error, if any). */
  closed: Promise<MuxError | undefined>;
}

export async function rawAgent(relayAgentAddr: string, relayPublicKey: string, key: KeyPair = generateKeyPair()): Promise<RawAgent> {
  const port = Number(relayAgentAddr.split(':').pop());
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
  const channel = await connectChannel(socket, { staticKey: key, remoteStaticKey: decodeKey(relayPublicKey) });
  const session = new Session(channel, { role: 'client' });
  let resolveClosed!: (e: MuxError | undefined) => void;
  const closed = new Promise<MuxError | undefined>((r) => { resolveClosed = r; });
  session.onClose = (e) => resolveClosed(e);
  const control = session.openStream({ tunnelId: CONTROL_TUNNEL_ID });
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<{ index: number; resolve: (l: Record<string, unknown>) => void }> = [];
  const decoder = new LineDecoder();
  control.onData = (chunk) => {
    for (const l of decoder.push(chunk)) {
      lines.push(JSON.parse(l) as Record<string, unknown>);
      for (const w of waiters.splice(0)) {
        if (w.index < lines.length) w.resolve(lines[w.index]); else waiters.push(w);
      }
    }
  };
  control.onEnd = () => {};
  return {
    session, control, key, lines, closed,
    write: (text) => { control.write(Buffer.from(text)); },
    line: (index) => (index < lines.length ? Promise.resolve(lines[index]) : new Promise((resolve) => waiters.push({ index, resolve }))),
  };
}

/** One register line (newline included) for `tunnels`. */
export function registerLine(tunnels: Array<Record<string, unknown>>): string {
  return JSON.stringify({ t: 'register', tunnels }) + '\n';
}
