import net, { type AddressInfo, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { generateKeyPair } from '../crypto/index.js';
import { connectChannel, NoiseResponder, type CipherName } from '../channel/index.js';
import { Session, splice } from '../mux/index.js';
import { createLinkServer, createLinkSocket, dialAndSplice } from '../link/index.js';
import type { Logger } from '../log.js';

export interface WarmupResult { bytes: number; ms: number }

const plainServer = (handler: (s: Socket) => void): Server => net.createServer({ allowHalfOpen: true }, handler);

/** Default bytes sent each way: enough for V8 to optimize the path (docs/performance.md, round 2). */
const DEFAULT_WARMUP_BYTES = 24 * 1024 * 1024;

/**
 * Sends `bytes` each way through the whole splice path before the process takes traffic:
 * client socket → splice → mux → Noise → mux → splice → echo server, and back. V8 optimizes
 * code only after it has run hot, so a fresh process is slow for its first seconds
 * (measured in docs/performance.md, splice path, round 2).
 *
 * Everything is in this process and on loopback, with throwaway keys; each listener takes its
 * one expected connection and closes, and a link from any other key is refused. Rejects on any
 * failure or after `timeoutMs`; the caller only logs that.
 */
export async function warmUp(bytes: number, cipher: CipherName = 'chachapoly', timeoutMs = 10_000): Promise<WarmupResult> {
  const started = performance.now();
  const sockets = new Set<Socket>();
  const servers: Server[] = [];
  const sessions: Session[] = [];
  const track = (s: Socket): Socket => { sockets.add(s); s.on('error', () => {}); return s; };
  const listenOnce = async (create: (handler: (s: Socket) => void) => Server, onSocket: (s: Socket) => void): Promise<number> => {
    const server = create((s) => { server.close(); onSocket(track(s)); });
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return (server.address() as AddressInfo).port;
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    const relayKey = generateKeyPair();
    const agentKey = generateKeyPair();
    const responder = new NoiseResponder({ staticKey: relayKey, ciphers: [cipher] });

    const echoPort = await listenOnce(plainServer, (s) => s.pipe(s));
    let relaySession!: Promise<Session>;
    const linkPort = await listenOnce(createLinkServer, (s) => {
      relaySession = responder.accept(s).then((ch) => {
        if (!ch.remoteStaticKey.equals(agentKey.publicKey)) { ch.destroy(); throw new Error('warm-up link from an unexpected key'); }
        const session = new Session(ch, { role: 'server' });
        sessions.push(session);
        return session;
      });
      relaySession.catch(() => {}); // awaited below; a failure before that must not go unhandled
    });

    const link = track(createLinkSocket());
    link.connect({ host: '127.0.0.1', port: linkPort, noDelay: true });
    const agentSession = new Session(await connectChannel(link, { staticKey: agentKey, remoteStaticKey: relayKey.publicKey, cipher }), { role: 'client' });
    sessions.push(agentSession);
    agentSession.onStream = (stream) => {
      track(dialAndSplice(stream, { host: '127.0.0.1', port: echoPort }));
    };
    const session = await relaySession;
    const frontPort = await listenOnce(plainServer, (s) => splice(s, session.openStream({ tunnelId: 'warmup' })));

    const client = track(net.connect({ host: '127.0.0.1', port: frontPort, allowHalfOpen: true, noDelay: true }));
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`warm-up not done within ${timeoutMs} ms`)), timeoutMs);
      client.on('error', reject);
      client.on('close', () => reject(new Error('warm-up connection closed early')));
      let received = 0;
      client.on('data', (d: Buffer) => { received += d.length; if (received >= bytes) resolve(); });
      const chunk = Buffer.alloc(64 * 1024, 0x5a);
      let sent = 0;
      const pump = (): void => {
        while (sent < bytes) {
          const n = Math.min(chunk.length, bytes - sent);
          sent += n;
          if (!client.write(n === chunk.length ? chunk : chunk.subarray(0, n))) { client.once('drain', pump); return; }
        }
      };
      pump();
    });
    return { bytes, ms: Math.round(performance.now() - started) };
  } finally {
    clearTimeout(timer);
    for (const s of sockets) s.destroy();
    for (const s of sessions) s.destroy();
    for (const s of servers) s.close();
  }
}

/** Warms up with each cipher in turn (the bytes shared among them); a failure is logged, never fatal. */
export async function warmUpLogged(log: Logger, ciphers: CipherName[], bytes = DEFAULT_WARMUP_BYTES): Promise<void> {
  for (const cipher of ciphers) {
    try {
      const r = await warmUp(Math.ceil(bytes / ciphers.length), cipher);
      log.info({ event: 'warmup.done', cipher, bytes: r.bytes, ms: r.ms }, `warm-up: ${r.bytes} bytes each way (${cipher}) in ${r.ms} ms`);
    } catch (err) {
      log.warn({ event: 'warmup.failed', cipher, error: (err as Error).message }, `warm-up failed (${(err as Error).message}); traffic is only slower at first`);
      return;
    }
  }
}
