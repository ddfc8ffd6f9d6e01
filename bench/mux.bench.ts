// Mux benchmarks (tinybench): frame encode+encrypt and decrypt+decode MB/s at 64 KiB, frames/s
// at 1 KiB (fast codec against the test oracle), the stream shape (lean hooks against a Node
// Duplex), and splice throughput through two sessions over loopback (Noise and plaintext).
// Run: npx tsx bench/mux.bench.ts   (figures in docs/performance.md "Mux")
import { Bench } from 'tinybench';
import net from 'node:net';
import { once } from 'node:events';
import { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { CipherState, getBackend } from '../src/crypto/index.js';
import { FramePacker, FrameType, HEADER_SIZE, parseFrames, type FrameSink } from '../src/mux/frame.js';
import { DEFAULT_MUX_CONFIG, SendBudget, Session, Stream, splice } from '../src/mux/index.js';
import type { StreamHost } from '../src/mux/stream.js';
import { channelPair, oracleDecode, oracleEncode, plaintextChannelPair, type ChannelPair } from '../support/index.js';

export interface Row { name: string; opsPerSec: number; mbPerSec?: number; framesPerSec?: number; samples: number }

const EMPTY = new Uint8Array(0);
const MAX = 65519;
const sink: FrameSink = { frame: () => true, truncated: () => {} };

function rows(bench: Bench, info: Map<string, { bytes?: number; frames?: number }>): Row[] {
  return bench.tasks.map((t) => {
    const r = t.result as { throughput?: { mean: number }; latency?: { samplesCount: number } } | undefined;
    const ops = r?.throughput?.mean ?? 0;
    const i = info.get(t.name) ?? {};
    const row: Row = { name: t.name, opsPerSec: ops, samples: r?.latency?.samplesCount ?? 0 };
    if (i.bytes) row.mbPerSec = (ops * i.bytes) / 1e6;
    if (i.frames) row.framesPerSec = ops * i.frames;
    return row;
  });
}

async function codecBench(time: number): Promise<Row[]> {
  const bench = new Bench({ time, warmupTime: Math.min(100, time / 2) });
  const info = new Map<string, { bytes?: number; frames?: number }>();
  const fns = getBackend('node').cipher('ChaChaPoly');
  const key = randomBytes(32);
  const packer = new FramePacker(MAX);

  // 64 KiB: one DATA frame filling the message.
  const big = randomBytes(MAX - HEADER_SIZE);
  const enc = new CipherState(fns, key);
  info.set('encode+encrypt 64 KiB DATA', { bytes: big.length });
  bench.add('encode+encrypt 64 KiB DATA', () => {
    packer.put(FrameType.DATA, 1, big);
    enc.encryptWithAdParts(EMPTY, packer.take());
  });
  packer.put(FrameType.DATA, 1, big);
  const [ct, tag] = new CipherState(fns, key).encryptWithAdParts(EMPTY, packer.take());
  const dec = new CipherState(fns, key);
  info.set('decrypt+decode 64 KiB DATA', { bytes: big.length });
  bench.add('decrypt+decode 64 KiB DATA', () => {
    dec.setNonce(0n);
    parseFrames(Buffer.from(dec.decryptWithAdParts(EMPTY, ct, tag)), sink);
  });

  // 1 KiB: as many 1 KiB DATA frames (of different streams) as one message holds.
  const small = randomBytes(1024);
  const perMsg = Math.floor(MAX / (HEADER_SIZE + 1024));
  info.set('encode+encrypt 1 KiB frames, packed', { bytes: perMsg * 1024, frames: perMsg });
  bench.add('encode+encrypt 1 KiB frames, packed', () => {
    for (let i = 0; i < perMsg; i++) packer.put(FrameType.DATA, 2 * i + 1, small);
    enc.encryptWithAdParts(EMPTY, packer.take());
  });
  for (let i = 0; i < perMsg; i++) packer.put(FrameType.DATA, 2 * i + 1, small);
  const packed = Buffer.from(packer.take());
  const [ct1, tag1] = new CipherState(fns, key).encryptWithAdParts(EMPTY, packed);
  info.set('decrypt+decode 1 KiB frames, packed', { bytes: perMsg * 1024, frames: perMsg });
  bench.add('decrypt+decode 1 KiB frames, packed', () => {
    dec.setNonce(0n);
    parseFrames(Buffer.from(dec.decryptWithAdParts(EMPTY, ct1, tag1)), sink);
  });
  info.set('encode+encrypt 1 KiB frame, one per message (unpacked)', { bytes: 1024, frames: 1 });
  bench.add('encode+encrypt 1 KiB frame, one per message (unpacked)', () => {
    packer.put(FrameType.DATA, 1, small);
    enc.encryptWithAdParts(EMPTY, packer.take());
  });

  // Fast codec against the oracle (no crypto), 1 KiB frames.
  const frames = Array.from({ length: perMsg }, (_, i) => ({ type: 0, flags: 0, streamId: 2 * i + 1, payload: small }));
  info.set('encode 1 KiB frames: FramePacker', { frames: perMsg });
  bench.add('encode 1 KiB frames: FramePacker', () => {
    for (let i = 0; i < perMsg; i++) packer.put(FrameType.DATA, 2 * i + 1, small);
    packer.take();
  });
  info.set('encode 1 KiB frames: oracle', { frames: perMsg });
  bench.add('encode 1 KiB frames: oracle', () => void oracleEncode(frames));
  info.set('decode 1 KiB frames: parseFrames', { frames: perMsg });
  bench.add('decode 1 KiB frames: parseFrames', () => parseFrames(packed, sink));
  info.set('decode 1 KiB frames: oracle', { frames: perMsg });
  bench.add('decode 1 KiB frames: oracle', () => void oracleDecode(packed));

  await bench.run();
  return rows(bench, info);
}

/** The receive hot path of the stream shape: one 16 KiB chunk handed to its consumer. */
async function shapeBench(time: number): Promise<Row[]> {
  const bench = new Bench({ time, warmupTime: Math.min(100, time / 2) });
  const info = new Map<string, { bytes?: number }>();
  const chunk = randomBytes(16 * 1024);
  let seen = 0;
  const config = { ...DEFAULT_MUX_CONFIG, initialStreamWindow: 1 << 30, maxStreamWindow: 1 << 30, streamWriteHighWaterMark: 1 << 30 };
  // A host whose schedule() refuses makes every write() ask for a turn: the costlier path.
  const host: StreamHost = { config, budget: new SendBudget(config.maxSessionQueued), schedule: () => false, windowUpdateDue: () => {}, consumed: () => {}, reset: () => {}, done: () => {} };
  const lean = new Stream(host, 1, { tunnelId: 'b' }, null);
  lean.onData = (c) => (seen += c.length);
  const duplex = new Duplex({ allowHalfOpen: true, read() {}, write(_c, _e, cb) { cb(); } });
  duplex.on('data', (c: Buffer) => (seen += c.length));
  info.set('stream shape: lean hooks, 16 KiB chunk in', { bytes: chunk.length });
  bench.add('stream shape: lean hooks, 16 KiB chunk in', () => void lean._receive(chunk));
  info.set('stream shape: Node Duplex push → data, 16 KiB chunk in', { bytes: chunk.length });
  bench.add('stream shape: Node Duplex push → data, 16 KiB chunk in', () => void duplex.push(chunk));
  // Write side: lean write() queues a view; Duplex write() runs its machinery and callback.
  info.set('stream shape: lean write(), 16 KiB', { bytes: chunk.length });
  bench.add('stream shape: lean write(), 16 KiB', () => {
    lean.write(chunk);
    lean['sendQueue'].clear(); // what the session's packer does, minus the copy (white box)
    host.budget.release(chunk.length); // and the bytes leave the budget as they leave the queue
  });
  info.set('stream shape: Node Duplex write(), 16 KiB', { bytes: chunk.length });
  bench.add('stream shape: Node Duplex write(), 16 KiB', () => void duplex.write(chunk));
  await bench.run();
  void seen;
  return rows(bench, info);
}

/**
 * customer socket → relay socket ⇄ splice ⇄ client session ⇄ channel ⇄ server session ⇄ splice
 * ⇄ agent socket → target that discards. All in one process on one core's worth of event loop.
 */
export async function spliceThroughput(kind: 'noise' | 'plaintext', totalMiB: number, streams = 1): Promise<Row> {
  const pair: ChannelPair = kind === 'noise' ? await channelPair() : await plaintextChannelPair();
  const client = new Session(pair.a, { role: 'client' });
  const server = new Session(pair.b, { role: 'server' });
  const closers: Array<() => void> = [];
  const target = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('data', () => {});
    s.on('end', () => s.end());
    s.on('error', () => {});
  });
  target.listen(0, '127.0.0.1');
  await once(target, 'listening');
  const targetPort = (target.address() as net.AddressInfo).port;
  server.onStream = (stream) => {
    stream.pause();
    const sock = net.connect({ port: targetPort, host: '127.0.0.1', allowHalfOpen: true });
    sock.once('connect', () => splice(sock, stream));
  };
  const pub = net.createServer({ allowHalfOpen: true }, (sock) => splice(sock, client.openStream({ tunnelId: 'bench' })));
  pub.listen(0, '127.0.0.1');
  await once(pub, 'listening');
  const pubPort = (pub.address() as net.AddressInfo).port;
  closers.push(() => (client.destroy(), server.destroy(), pair.close(), target.close(), pub.close()));

  const chunk = randomBytes(256 * 1024);
  const per = Math.ceil((totalMiB * 1024 * 1024) / streams / chunk.length);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: streams }, async () => {
      const c = net.connect({ port: pubPort, host: '127.0.0.1', allowHalfOpen: true, noDelay: true });
      await once(c, 'connect');
      for (let i = 0; i < per; i++) if (!c.write(chunk)) await once(c, 'drain');
      c.end();
      c.resume();
      await once(c, 'close');
    }),
  );
  const ms = performance.now() - t0;
  for (const f of closers) f();
  const bytes = per * streams * chunk.length;
  return { name: `splice ${kind}, ${streams} stream(s), ${Math.round(bytes / 1048576)} MiB`, opsPerSec: 1000 / ms, mbPerSec: bytes / 1e6 / (ms / 1000), samples: 1 };
}

/** Runs every mux benchmark; `time` is tinybench's time per task in ms. */
export async function run(time = 500): Promise<Row[]> {
  const out = [...(await codecBench(time)), ...(await shapeBench(time))];
  for (const kind of ['noise', 'plaintext'] as const) {
    out.push(await spliceThroughput(kind, 512, 1));
    out.push(await spliceThroughput(kind, 512, 16));
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await run(Number(process.env.BENCH_TIME_MS ?? 500));
  console.log(`node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
  console.table(
    result.map((r) => ({
      task: r.name,
      'ops/s': Math.round(r.opsPerSec).toLocaleString('en-US'),
      'MB/s': r.mbPerSec === undefined ? '' : Math.round(r.mbPerSec).toLocaleString('en-US'),
      'frames/s': r.framesPerSec === undefined ? '' : Math.round(r.framesPerSec).toLocaleString('en-US'),
      samples: r.samples,
    })),
  );
}
