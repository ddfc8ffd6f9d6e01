import type net from 'node:net';
import { connect, createServer } from 'node:net';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, X509Certificate } from 'node:crypto';

export { freePort } from '../../src/net/free-port.js';

/** What a helper needs of a tap test: somewhere to put its clean-up. */
export interface Teardown { teardown(fn: () => unknown): void }

/**
 * Starts `server` (net, tls, https, http2: any net.Server) on 127.0.0.1 with a port from the OS
 * and resolves with the port. Given `t`, the sockets it accepts are kept track of (their errors
 * are expected when a test tears down mid-transfer, so they are not thrown), and teardown destroys
 * them and closes the server.
 */
export async function listen(server: net.Server, t?: Teardown): Promise<number> {
  if (t) {
    const sockets = new Set<net.Socket>();
    server.on('connection', (s: net.Socket) => {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    });
    t.teardown(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  return (server.address() as net.AddressInfo).port;
}

/**
 * A loopback server (half-open allowed, no Nagle) whose accepted sockets are handed out one by
 * one, in order: for tests of a reader that takes over a fresh socket.
 */
export async function acceptQueue(t: Teardown): Promise<{ port: number; accepted: () => Promise<net.Socket> }> {
  const queue: net.Socket[] = [];
  const srv = createServer({ allowHalfOpen: true }, (s) => { s.setNoDelay(true); queue.push(s); srv.emit('queued'); });
  const port = await listen(srv, t);
  const accepted = async (): Promise<net.Socket> => {
    while (queue.length === 0) await once(srv, 'queued');
    return queue.shift()!;
  };
  return { port, accepted };
}

const READER_EVENTS = ['data', 'end', 'close', 'error'] as const;
/** A socket's listener counts for the events a reader uses: equal before and after, it left none behind. */
export const listenerCounts = (s: net.Socket): number[] => READER_EVENTS.map((e) => s.listenerCount(e));
/** Active timers of the process: equal before and after, a reader left none behind. */
export const activeTimers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/** A client socket to 127.0.0.1:`port` (with `opts`): its errors are not thrown, teardown destroys it. */
export function dial(t: Teardown, port: number, opts: Omit<net.TcpNetConnectOpts, 'port' | 'host'> = {}): net.Socket {
  const s = connect({ ...opts, port, host: '127.0.0.1' });
  s.on('error', () => {});
  t.teardown(() => { s.destroy(); });
  return s;
}

/** Reads exactly n bytes from a socket (or rejects on close); what follows stays for the next reader. */
export function readBytes(s: net.Socket, n: number): Promise<Buffer> {
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

/**
 * How a socket's connection ended: 'reset', 'eof' (the peer's FIN) or `error CODE`. A reset that
 * arrives with data surfaces in libuv as end-of-file (a partial read with POLLHUP, and the error
 * is never read), so an 'end' is checked with an empty write, which a reset connection refuses
 * (the relay's splice probes the same way). The socket needs allowHalfOpen, or Node would refuse
 * the probe itself. It reads the socket to its end: attach a 'data' listener first if the bytes
 * matter.
 */
export function endingOf(s: net.Socket): Promise<string> {
  if (!s.allowHalfOpen) throw new TypeError('endingOf: the socket must be created with allowHalfOpen: true');
  let outcome = 'close';
  const fromError = (e: NodeJS.ErrnoException): string => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? 'reset' : `error ${e.code}`);
  s.on('end', () => {
    // Once our side has ended too there is nothing left to probe with (splice has the same limit).
    if (s.writableEnded) { outcome = 'eof'; return; }
    s.write(Buffer.alloc(0), (err) => {
      outcome = err ? fromError(err) : 'eof';
      s.destroy();
    });
  });
  s.on('error', (e: NodeJS.ErrnoException) => { if (outcome === 'close') outcome = fromError(e); });
  s.resume();
  return new Promise((r) => { s.once('close', () => r(outcome)); });
}

/** Resolves when the socket closes, with every byte it received and how it ended (endingOf). */
export async function untilClosed(s: net.Socket): Promise<{ data: Buffer; ending: string }> {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => { chunks.push(c); });
  const ending = await endingOf(s);
  return { data: Buffer.concat(chunks), ending };
}

export function sha256(b: Uint8Array | string): string {
  return createHash('sha256').update(b).digest('hex');
}

/** A fresh 0700 directory (a $RELAY_HOME, a place for key files); given `t`, removed in teardown. */
export function tempHome(t?: Teardown): string {
  const d = mkdtempSync(join(tmpdir(), 'relay-test-'));
  chmodSync(d, 0o700);
  t?.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

export interface TestCert { dir: string; keyPath: string; certPath: string; key: Buffer; cert: Buffer; fingerprint256: string }

/** A self-signed certificate for `names` made by the openssl command-line tool. */
export function makeCert(names: string[]): TestCert {
  const dir = tempHome();
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`,
    '-keyout', keyPath, '-out', certPath], { stdio: 'ignore' });
  const cert = readFileSync(certPath);
  return { dir, keyPath, certPath, key: readFileSync(keyPath), cert, fingerprint256: new X509Certificate(cert).fingerprint256 };
}
