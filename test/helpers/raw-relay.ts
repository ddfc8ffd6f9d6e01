import net from 'node:net';
import { NoiseResponder } from '../../src/channel/responder.js';
import { encodeKey, generateKeyPair, type KeyPair } from '../../src/crypto/keys.js';
import { Session, type MuxError, type Stream } from '../../src/mux/index.js';
import { LineDecoder } from '../../src/control/messages.js';
import { listen, type Teardown } from './net.js';

/**
 * A hand-driven relay for hostile-relay tests, built from the project's own Noise and mux: it
 * accepts agent links on loopback, completes the real handshake, and hands the test each session
 * with its control stream and the register line the agent sent. Everything it says after that
 * is what the test writes.
 */
export interface RawRelay {
  address: string;
  publicKey: string;
  /** The next agent session (in arrival order), once its register has arrived. */
  nextSession(): Promise<RawRelaySession>;
}

interface RawRelaySession {
  session: Session;
  control: Stream;
  register: Record<string, unknown>;
  /** Writes raw text on the control stream. */
  write(text: string): void;
  closed: Promise<MuxError | undefined>;
}

export async function rawRelay(t: Teardown, key: KeyPair = generateKeyPair()): Promise<RawRelay> {
  const responder = new NoiseResponder({ staticKey: key });
  const ready: Array<Promise<RawRelaySession>> = [];
  const waiting: Array<(s: Promise<RawRelaySession>) => void> = [];
  const sessions = new Set<Session>();
  t.teardown(() => { for (const s of sessions) s.destroy(); });
  const server = net.createServer({ noDelay: true }, (socket) => {
    const p = responder.accept(socket).then((channel) => new Promise<RawRelaySession>((resolve) => {
      const session = new Session(channel, { role: 'server' });
      sessions.add(session);
      const closed = new Promise<MuxError | undefined>((r) => { session.onClose = r; });
      session.onStream = (control) => {
        const decoder = new LineDecoder();
        control.onData = (chunk) => {
          for (const line of decoder.push(chunk)) {
            resolve({ session, control, register: JSON.parse(line) as Record<string, unknown>, write: (text) => control.write(Buffer.from(text)), closed });
          }
        };
      };
    }));
    p.catch(() => {});
    const w = waiting.shift();
    if (w) w(p); else ready.push(p);
  });
  const port = await listen(server, t);
  return {
    address: `127.0.0.1:${port}`,
    publicKey: encodeKey(key.publicKey),
    nextSession: () => ready.shift() ?? new Promise((r) => waiting.push(r)),
  };
}

/** A `registered` line answering `register` with every TLS tunnel live. */
export function allLive(register: Record<string, unknown>): string {
  const tunnels = (register.tunnels as Array<{ id: string; type: string; hostname?: string; port?: number }>).map((r) => (r.type === 'tls'
    ? { id: r.id, ok: true, type: 'tls', hostname: r.hostname, url: `https://${r.hostname}/` }
    : { id: r.id, ok: true, type: 'tcp', port: 20000, address: 'relay.test:20000' }));
  return JSON.stringify({ t: 'registered', tunnels }) + '\n';
}
